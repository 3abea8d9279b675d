"""One large file over several connections (like aria2c's `-x`), verified as one file.

Used by `net/download.py` when a fresh GET answers `Accept-Ranges: bytes` with a length of at
least SEGMENT_THRESHOLD. The file is cut into PIECE_SIZE pieces written at their offsets into
the one `.part` file (`os.pwrite`). The first answer keeps streaming from the front ("the
lead"); when neither of its first two pieces came faster than FAST_ENOUGH (a server or link
that limits each connection), up to `connections - 1` helpers take pieces from the back, one
`Range` request each, until they meet the lead (a fast connection is left alone). A thread
hashes the lead's bytes as written, then the helpers' pieces in order; download.py verifies the
whole file. `.<name>.part.segments.json` lists finished pieces, so an interrupted download
resumes with the pieces it lacks; a changed file (`If-Range` failing) starts over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from kubeferry.core.textfiles import write_text_atomically
from kubeferry.errors import UpstreamError
from kubeferry.net.hashes import new_hashers
from kubeferry.net.segment_files import open_part, saved_state, state_path

__all__ = ["saved_state", "state_path"]  # re-exported: download.py and tests use them from here

SEGMENT_THRESHOLD: Final = 64 * 1024 * 1024
DEFAULT_CONNECTIONS: Final = 4
MAX_CONNECTIONS: Final = 16
PIECE_SIZE: Final = 8 * 1024 * 1024
FAST_ENOUGH: Final = 256 * 1000 * 1000
"""Either of the first two pieces this fast (bytes/s): one connection (a hiccup is not a limit)."""
PIECE_ATTEMPTS: Final = 4
HASH_READ: Final = 1024 * 1024

Progress = Callable[[int, int | None], None]


class SegmentsRestart(Exception):
    """The server's file changed under the pieces (or ignored Range): start over from nothing."""


@dataclass(frozen=True)
class Segmented:
    """A finished fetch: bytes fetched now, and hashers that saw the whole file."""

    fetched: int
    hashers: dict[str, hashlib._Hash]
    identity: tuple[int, int, int]
    """(device, inode, size) of the part after the last write and fsync: the hashed bytes."""


def wanted(response: httpx.Response, connections: int) -> bool:
    """True when a fresh 200 answer is large and the server says it serves ranges."""
    length = response.headers.get("Content-Length", "")
    return (
        connections > 1
        and response.status_code == 200
        and response.headers.get("Accept-Ranges", "").lower() == "bytes"
        and "Content-Encoding" not in response.headers
        and length.isdigit()
        and int(length) >= SEGMENT_THRESHOLD
    )


@dataclass
class _Shared:
    """What the lead, the helpers, the hashing thread and the caller share (under `lock`)."""

    url: str
    size: int
    validator: str | None
    fd: int
    state_file: Path
    done: set[int]
    progress: Progress | None
    cancelled: Callable[[], None] = lambda: None
    """Raises when the user interrupted (Ctrl-C): checked after every chunk."""
    starts: dict[int, int] = field(default_factory=dict)
    """Where a piece the lead gave up midway is continued from."""
    lead_bytes: queue.Queue[memoryview | None] = field(default_factory=lambda: queue.Queue(8))
    """The lead's bytes in order, for the hashing thread (None: the lead stopped)."""
    claimed: set[int] = field(default_factory=set)
    fetched: int = 0
    had: int = 0
    failed: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)
        self.claimed = set(self.done)
        self.had = sum(self.length(i) for i in self.done)

    @property
    def pieces(self) -> int:
        return -(-self.size // PIECE_SIZE)

    def length(self, index: int) -> int:
        return min(self.size, (index + 1) * PIECE_SIZE) - index * PIECE_SIZE

    def claim(self, index: int) -> bool:
        with self.lock:
            if index in self.claimed or self.failed is not None:
                return False
            self.claimed.add(index)
            return True

    def take(self, *, from_back: bool) -> int | None:
        with self.lock:
            order = range(self.pieces - 1, -1, -1) if from_back else range(self.pieces)
            index = next((i for i in order if i not in self.claimed), None)
            if index is None or self.failed is not None:
                return None
            self.claimed.add(index)
            return index

    def received(self, count: int) -> None:
        self.cancelled()
        with self.lock:
            self.fetched += count
            now = self.had + self.fetched
        if self.progress:
            self.progress(min(now, self.size), self.size)

    def save(self) -> None:
        """The pieces state beside the part (under the lock): what a resume may keep."""
        state = {"url": self.url, "size": self.size, "validator": self.validator}
        state["piece"], state["done"] = PIECE_SIZE, sorted(self.done)
        write_text_atomically(self.state_file, json.dumps(state))

    def finish(self, index: int) -> None:
        with self.lock:
            self.done.add(index)
            self.save()
            self.changed.notify_all()

    def release(self, index: int) -> None:
        with self.lock:
            self.claimed.discard(index)

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.failed = self.failed or exc
            self.changed.notify_all()


def _write(shared: _Shared, data: memoryview, position: int) -> None:
    while data:
        written = os.pwrite(shared.fd, data, position)
        data, position = data[written:], position + written


def _fetch_piece(client: httpx.Client, shared: _Shared, index: int) -> None:
    end = index * PIECE_SIZE + shared.length(index) - 1
    start = shared.starts.get(index, index * PIECE_SIZE)
    headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
    if shared.validator:
        headers["If-Range"] = shared.validator
    position = start
    with client.stream("GET", shared.url, headers=headers) as response:
        expected = f"bytes {start}-{end}/{shared.size}"
        if response.status_code == 200 or (
            response.status_code == 206 and response.headers.get("Content-Range") != expected
        ):
            raise SegmentsRestart(f"{shared.url} answered {response.status_code} to a range")
        if response.status_code != 206:
            raise httpx.TransportError(f"HTTP {response.status_code} for a piece")
        for chunk in response.iter_raw():
            if position + len(chunk) > end + 1:
                raise SegmentsRestart(f"{shared.url} sent more than the range asked for")
            _write(shared, memoryview(chunk), position)
            position += len(chunk)
            shared.received(len(chunk))
    if position != end + 1:
        raise httpx.TransportError(f"piece {index} ended after {position - start} bytes")


def _helper(client: httpx.Client, shared: _Shared, from_back: bool) -> None:
    while (index := shared.take(from_back=from_back)) is not None:
        for attempt in range(1, PIECE_ATTEMPTS + 1):
            try:
                _fetch_piece(client, shared, index)
                break
            except httpx.HTTPError as exc:
                if attempt == PIECE_ATTEMPTS:
                    return shared.fail(exc)
            except BaseException as exc:  # handed to the caller
                return shared.fail(exc)
        shared.finish(index)
    return None


def _lead(response: httpx.Response, shared: _Shared, start_helpers: Callable[[], None]) -> None:
    """Stream the first answer from the front, piece by piece, until it meets a helper."""
    index, position, began, best = 0, 0, time.monotonic(), 0.0
    shared.claim(0)
    try:
        for chunk in response.iter_raw():
            view = memoryview(chunk)
            while view:
                piece_end = min(shared.size, (index + 1) * PIECE_SIZE)
                part, view = view[: piece_end - position], view[piece_end - position :]
                _write(shared, part, position)
                shared.lead_bytes.put(part)  # hashed from memory: exactly what was written
                position += len(part)
                shared.received(len(part))
                if position < piece_end:
                    continue
                shared.finish(index)
                now = time.monotonic()
                best, began = max(best, PIECE_SIZE / max(now - began, 1e-6)), now
                if index == 1 and best < FAST_ENOUGH:  # neither of two pieces was fast
                    start_helpers()
                index += 1
                if index >= shared.pieces or not shared.claim(index):
                    return
    except httpx.HTTPError:
        pass  # the helpers take over from here
    finally:
        shared.lead_bytes.put(None)
    if position < shared.size and index < shared.pieces:
        shared.starts[index] = position  # the bytes before it were hashed: never rewritten
        shared.release(index)
        start_helpers()


def _hash_in_order(shared: _Shared, hashers: dict[str, hashlib._Hash], lead: bool) -> None:
    """Hash the lead's bytes as they come, then the rest piece by piece, read back."""
    start = 0
    while lead and (block := shared.lead_bytes.get()) is not None:
        for hasher in hashers.values():
            hasher.update(block)
        start += len(block)
    for index in range(start // PIECE_SIZE, shared.pieces):
        with shared.lock:
            while index not in shared.done and shared.failed is None:
                shared.changed.wait()
            if shared.failed is not None:
                return
        position, end = max(start, index * PIECE_SIZE), index * PIECE_SIZE + shared.length(index)
        while position < end:
            block = os.pread(shared.fd, min(HASH_READ, end - position), position)
            if not block:
                shared.fail(OSError(f"{shared.state_file}: the part file is shorter"))
                return
            for hasher in hashers.values():
                hasher.update(block)
            position += len(block)


@dataclass
class _Crew:
    """The helper threads, started at most once."""

    client: httpx.Client
    shared: _Shared
    count: int
    from_back: bool
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        if self.threads or self.count < 1:
            return
        args = (self.client, self.shared, self.from_back)
        self.threads = [  # daemons: a second Ctrl-C must not wait for a piece to finish
            threading.Thread(target=_helper, args=args, daemon=True) for _ in range(self.count)
        ]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


def fetch(
    client: httpx.Client,
    url: str,
    part: Path,
    *,
    size: int,
    validator: str | None,
    algorithms: set[str],
    connections: int,
    progress: Progress | None,
    response: httpx.Response | None = None,
    done: set[int] | None = None,
    cancelled: Callable[[], None] = lambda: None,
) -> Segmented:
    """Fill `part` with `size` bytes of `url`, hashed in order.

    With `response` (a fresh 200 answer) it leads and helpers join only when it is slow;
    without (a resume) `connections` helpers take the missing pieces. Raises SegmentsRestart
    when the file changed, UpstreamError when a piece keeps failing (the part and its pieces
    state are kept: running again resumes).
    """
    destination = part.with_name(part.name.removeprefix(".").removesuffix(".part"))
    count = max(1, min(connections, MAX_CONNECTIONS))
    fd = open_part(part)
    try:
        if os.fstat(fd).st_size > size:  # never keep bytes past the end: they are not hashed
            os.ftruncate(fd, size)
        shared = _Shared(
            url, size, validator, fd, state_path(destination), set(done or ()), progress, cancelled
        )
        shared.save()  # before any byte: a part with holes is never taken for a sequential one
        hashers = new_hashers(algorithms)
        lead = response is not None
        hashing = threading.Thread(target=_hash_in_order, args=(shared, hashers, lead), daemon=True)
        hashing.start()
        crew = _Crew(client, shared, count - 1 if response else count, from_back=bool(response))
        try:
            if response is not None:
                _lead(response, shared, crew.start)
            else:
                crew.start()
            crew.join()
            if len(shared.done) < shared.pieces:
                shared.fail(shared.failed or UpstreamError(f"{url}: pieces are missing", url=url))
            hashing.join()
            os.fsync(fd)  # the bytes are on disk before the name says the file is complete
            found = os.fstat(fd)
            identity = (found.st_dev, found.st_ino, found.st_size)
        except BaseException as exc:  # Ctrl-C or a write error: stop the others, then raise
            shared.fail(exc)  # helpers stop after their piece; finished pieces stay listed
            with contextlib.suppress(queue.Full):
                shared.lead_bytes.put_nowait(None)  # the hashing thread may wait for the lead
            crew.join()
            hashing.join()
            raise
    finally:
        os.close(fd)
    return _outcome(shared, part, destination, Segmented(shared.fetched, hashers, identity))


def _outcome(shared: _Shared, part: Path, destination: Path, result: Segmented) -> Segmented:
    failed = shared.failed
    if isinstance(failed, SegmentsRestart):
        part.unlink(missing_ok=True)
        state_path(destination).unlink(missing_ok=True)
        raise failed
    if failed is not None:
        raise UpstreamError(
            f"{shared.url} failed ({type(failed).__name__}: {failed}). The {len(shared.done)} "
            f"finished pieces of {shared.pieces} were kept in {part}: run the same command "
            "again to resume.",
            url=shared.url,
        ) from failed
    state_path(destination).unlink(missing_ok=True)
    return result


def resume(
    client: httpx.Client,
    url: str,
    part: Path,
    *,
    algorithms: set[str],
    connections: int,
    progress: Progress | None,
    cancelled: Callable[[], None] = lambda: None,
) -> Segmented | None:
    """Continue an interrupted segmented download of `url` into `part`; None when there is none."""
    destination = part.with_name(part.name.removeprefix(".").removesuffix(".part"))
    had_state = state_path(destination).is_file()
    state = saved_state(destination, url)
    if state is None or state.get("piece") != PIECE_SIZE or not part.exists():
        state_path(destination).unlink(missing_ok=True)
        if had_state:  # a part written in pieces has holes: never resume it sequentially
            part.unlink(missing_ok=True)
        return None
    return fetch(
        client,
        url,
        part,
        size=state["size"],
        validator=state.get("validator"),
        algorithms=algorithms,
        connections=connections,
        progress=progress,
        done={int(i) for i in state["done"]},
        cancelled=cancelled,
    )
