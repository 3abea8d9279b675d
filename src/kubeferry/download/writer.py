"""The download's writer: bytes handed to a writing thread and a hashing thread at once."""

from __future__ import annotations

import hashlib
import os
import queue
from collections.abc import Callable
from pathlib import Path

from kubeferry.download.memory import keep_freed_buffers
from kubeferry.download.writeback import Writeback
from kubeferry.files.hashing import CHUNK_SIZE
from kubeferry.files.safe import open_for_writing
from kubeferry.jobs.threads import ThreadGroup


class HashingWriter:
    """Appends to a file and hashes it, each in its own thread, so the network never waits.

    Chunks are handed over in batches of about 1 MiB, without copying (hashlib and file writes
    release the GIL on chunks that large); the writing thread and the hashing thread each take
    every batch, so a download runs at the slower of the two instead of their sum (profiled:
    write and sha256 in one thread capped a loopback download near 600 MB/s). At most `depth`
    batches wait per thread, so memory stays flat. `close()` writes everything that was fed,
    even after a failed read, so a resumed download loses nothing, then syncs it to disk (the
    writing thread starts the kernel writing as it goes, download/writeback.py, so that sync has
    little left to wait for). The file is opened without following links and must be a regular
    file (a planted link or FIFO is refused, its target untouched); `identity` is its (device,
    inode, the size this writer made) after close, so a caller can check that the bytes it
    hashed are the bytes on disk under the name it renames.
    """

    def __init__(
        self, path: Path, mode: str, hashers: dict[str, hashlib._Hash], *, depth: int = 4
    ) -> None:
        keep_freed_buffers()
        self._file = open_for_writing(path, append=mode.startswith("a"))
        self._size = os.fstat(self._file.fileno()).st_size
        self._writeback = Writeback(self._file.fileno(), self._size)
        self.identity: tuple[int, int, int] | None = None
        self._hashers = list(hashers.values())
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._error: BaseException | None = None
        self._queues: list[queue.Queue[list[bytes] | None]] = [
            queue.Queue(maxsize=depth),
            queue.Queue(maxsize=depth),
        ]
        self._threads = ThreadGroup()  # waited for on a condition: jobs/threads.py says why
        self._threads.start(self._drain, self._queues[0], self._write)
        self._threads.start(self._drain, self._queues[1], self._hash)

    def _write(self, block: bytes) -> None:
        self._file.write(block)
        self._size += len(block)  # only this thread writes: the size it made, counted here
        self._writeback.wrote_up_to(self._size)  # a few bytes still buffered are synced later

    def _hash(self, block: bytes) -> None:
        for hasher in self._hashers:
            hasher.update(block)

    def _drain(
        self, source: queue.Queue[list[bytes] | None], work: Callable[[bytes], None]
    ) -> None:
        while (blocks := source.get()) is not None:
            if self._error is not None:
                continue
            try:
                for block in blocks:
                    work(block)
            except BaseException as exc:  # handed to the caller in feed() or close()
                self._error = exc

    def _hand_over(self, blocks: list[bytes] | None) -> None:
        for target in self._queues:
            target.put(blocks)

    def feed(self, data: bytes) -> None:
        """Queue `data` for writing and hashing."""
        if self._error is not None:
            raise self._error
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= CHUNK_SIZE:
            self._hand_over(self._pending)
            self._pending, self._pending_size = [], 0

    def close(self) -> None:
        """Write what is left, wait for the threads, close the file; raise a write error."""
        if self._pending:
            self._hand_over(self._pending)
            self._pending, self._pending_size = [], 0
        self._hand_over(None)
        self._threads.wait()
        try:
            if self._error is None:
                self._file.flush()
                os.fsync(self._file.fileno())
                info = os.fstat(self._file.fileno())
                # The size this writer made, not the size found: bytes another program added
                # show up as a difference when the caller compares it with the file on disk.
                self.identity = (info.st_dev, info.st_ino, self._size)
        except OSError as exc:
            self._error = exc
        finally:
            self._file.close()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
