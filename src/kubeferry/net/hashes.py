"""Sums files (`<hex>  <name>`) and streaming sha256/sha512 of files."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Final

from kubeferry.core.textfiles import open_plain, open_regular
from kubeferry.errors import SumsFileError, UnsafePathError
from kubeferry.net.partfiles import plain_or_absent
from kubeferry.net.threads import ThreadGroup
from kubeferry.net.writeback import Writeback

CHUNK_SIZE: Final = 1024 * 1024
_SUMS_LINE: Final = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) (?: |\*)(?P<name>\S.*)$")
_HEX_DIGEST: Final = re.compile(r"^[0-9a-fA-F]+$")
DIGEST_LENGTHS: Final = {"sha256": 64, "sha512": 128}


def parse_sums(text: str, *, source: str) -> dict[str, str]:
    """File name -> lowercase sha256 from `sha256sum` output (text or `*` binary mode)."""
    digests: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _SUMS_LINE.match(line)
        if match is None:
            raise SumsFileError(
                f"{source} line {number} is not '<64 hex digits>  <file name>': {line[:80]!r}. "
                "Download the sums file again.",
                path=source,
            )
        name = match["name"].strip()
        if "/" in name or "\\" in name or name in (".", ".."):
            raise SumsFileError(
                f"{source} line {number} names {name!r}, which is not a plain file name.",
                path=source,
            )
        digests[name] = match["digest"].lower()
    if not digests:
        raise SumsFileError(
            f"{source} lists no files. Download the sums file again from the release.",
            path=source,
        )
    return digests


def parse_digest_file(text: str, *, algorithm: str, source: str) -> str:
    """The digest from a dl.k8s.io `.sha256`/`.sha512` file (hex only, or `hex  name`)."""
    words = text.split()
    expected_length = DIGEST_LENGTHS[algorithm]
    if not words or len(words[0]) != expected_length or not _HEX_DIGEST.match(words[0]):
        raise SumsFileError(
            f"{source} does not hold a {algorithm} digest ({expected_length} hex digits); "
            f"found {text[:80]!r}. Check the mirror.",
            path=None if source.startswith("http") else source,
        )
    return words[0].lower()


def new_hashers(algorithms: Iterable[str]) -> dict[str, hashlib._Hash]:
    """Fresh hash objects by algorithm name."""
    return {name: hashlib.new(name) for name in algorithms}


def hash_file(path: Path, algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file, read once in 1 MiB chunks (memory stays flat)."""
    hashers = new_hashers(algorithms)
    if len(hashers) == 1:
        (name,) = hashers
        with os.fdopen(open_regular(path, error=UnsafePathError), "rb") as stream:
            return {name: hashlib.file_digest(stream, name).hexdigest()}
    feed_file(hashers, path)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def feed_file(hashers: dict[str, hashlib._Hash], path: Path, length: int | None = None) -> None:
    """Update `hashers` with the first `length` bytes of a file (all of it by default).

    The file is opened without following links and must be a regular file.
    """
    with os.fdopen(open_regular(path, error=UnsafePathError), "rb") as stream:
        copy_hashing(stream, None, hashers.values(), length)


def copy_hashing(
    source: BinaryIO,
    target: BinaryIO | None,
    hashers: Iterable[hashlib._Hash],
    length: int | None = None,
) -> int:
    """Read `source` (its first `length` bytes, or to the end) in 1 MiB chunks into `hashers`,
    writing the same bytes to `target` if given: what is hashed is exactly what is copied.
    Memory stays flat. Returns the number of bytes read."""
    targets = list(hashers)
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    done = 0
    while (length is None or done < length) and (count := source.readinto(buffer)):
        if length is not None:
            count = min(count, length - done)
        chunk = view[:count]
        if target is not None:
            target.write(chunk)
        for hasher in targets:
            hasher.update(chunk)
        done += count
    return done


def sha256_file(path: Path) -> str:
    """The sha256 of a file, hex."""
    return hash_file(path)["sha256"]


class HashingWriter:
    """Appends to a file and hashes it, each in its own thread, so the network never waits.

    Chunks are handed over in batches of about 1 MiB, without copying (hashlib and file writes
    release the GIL on chunks that large); the writing thread and the hashing thread each take
    every batch, so a download runs at the slower of the two instead of their sum (profiled:
    write and sha256 in one thread capped a loopback download near 600 MB/s). At most `depth`
    batches wait per thread, so memory stays flat. `close()` writes everything that was fed,
    even after a failed read, so a resumed download loses nothing, then syncs it to disk (the
    writing thread starts the kernel writing as it goes, net/writeback.py, so that sync has
    little left to wait for). The file is opened without following links and must be a regular
    file (a planted link or FIFO is refused, its target untouched); `identity` is its (device,
    inode, the size this writer made) after close, so a caller can check that the bytes it
    hashed are the bytes on disk under the name it renames.
    """

    def __init__(
        self, path: Path, mode: str, hashers: dict[str, hashlib._Hash], *, depth: int = 4
    ) -> None:
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
        self._threads = ThreadGroup()  # waited for on a condition: net/threads.py says why
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


def open_for_writing(path: Path, *, append: bool) -> io.BufferedWriter:
    """`path` opened for writing (appending or from empty), refusing links and non-regular files.

    The lstat comes first so that truncation never reaches a FIFO or device; O_NOFOLLOW then
    closes the window in which a link could be planted.
    """
    plain_or_absent(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    descriptor = open_plain(path, flags)
    return os.fdopen(descriptor, "ab" if append else "wb")
