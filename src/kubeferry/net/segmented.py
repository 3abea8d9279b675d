"""One large file over several connections (like aria2c's `-x`), verified as one file.

Used by `net/download.py` when the server answers a fresh GET with `Accept-Ranges: bytes` and a
length of at least SEGMENT_THRESHOLD: a server or a link that limits each connection then
delivers several times one connection's speed. The file is cut into PIECE_SIZE pieces that the
workers take in order, each one `Range` request on a kept-alive connection, written at its
offset into the one `.part` file (`os.pwrite`). A hashing thread follows the finished prefix of
the file, so the digest is ready soon after the last byte and the whole file is verified before
it gets its name (by download.py). Finished pieces are listed in `.<name>.part.segments.json`,
so an interrupted download resumes with the pieces it lacks; a changed file (`If-Range` failing)
starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from kubeferry.errors import UpstreamError
from kubeferry.net.hashes import new_hashers

SEGMENT_THRESHOLD: Final = 64 * 1024 * 1024
DEFAULT_CONNECTIONS: Final = 4
MAX_CONNECTIONS: Final = 16
PIECE_SIZE: Final = 8 * 1024 * 1024
PIECE_ATTEMPTS: Final = 4
HASH_READ: Final = 1024 * 1024
STATE_SUFFIX: Final = ".part.segments.json"

Progress = Callable[[int, int | None], None]


class SegmentsRestart(Exception):
    """The server's file changed under the pieces (or ignored Range): start over from nothing."""


@dataclass(frozen=True)
class Segmented:
    """A finished segmented fetch: bytes fetched now, and hashers that saw the whole file."""

    fetched: int
    hashers: dict[str, hashlib._Hash]


def state_path(destination: Path) -> Path:
    """`.<name>.part.segments.json` beside the destination."""
    return destination.with_name(f".{destination.name}{STATE_SUFFIX}")


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


def validator_of(response: httpx.Response) -> str | None:
    """A strong ETag or Last-Modified, for `If-Range`."""
    value = response.headers.get("ETag") or response.headers.get("Last-Modified")
    return value if value and not value.startswith("W/") else None


def saved_state(destination: Path, url: str) -> dict[str, Any] | None:
    """The pieces state of an interrupted segmented download of `url`, if there is one."""
    try:
        state = json.loads(state_path(destination).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("url") != url:
        return None
    if not isinstance(state.get("size"), int) or not isinstance(state.get("done"), list):
        return None
    return state


@dataclass
class _Shared:
    """What the workers, the hashing thread and the caller share (under `lock`)."""

    url: str
    size: int
    validator: str | None
    fd: int
    state_file: Path
    done: set[int]
    progress: Progress | None
    pieces: int = 0
    next_piece: int = 0
    fetched: int = 0
    failed: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.finished = threading.Condition(self.lock)
        self.pieces = -(-self.size // PIECE_SIZE)

    def bounds(self, index: int) -> tuple[int, int]:
        start = index * PIECE_SIZE
        return start, min(self.size, start + PIECE_SIZE) - 1

    def take(self) -> int | None:
        with self.lock:
            while self.next_piece < self.pieces and self.next_piece in self.done:
                self.next_piece += 1
            if self.failed is not None or self.next_piece >= self.pieces:
                return None
            self.next_piece += 1
            return self.next_piece - 1

    def have(self) -> int:
        return sum(self.bounds(i)[1] - self.bounds(i)[0] + 1 for i in self.done)

    def save(self) -> None:
        state = {"url": self.url, "size": self.size, "validator": self.validator}
        state["piece"], state["done"] = PIECE_SIZE, sorted(self.done)
        temporary = self.state_file.with_name(self.state_file.name + ".new")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_file)


def _fetch_piece(client: httpx.Client, shared: _Shared, index: int) -> None:
    start, end = shared.bounds(index)
    headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
    if shared.validator:
        headers["If-Range"] = shared.validator
    position = start
    with client.stream("GET", shared.url, headers=headers) as response:
        if response.status_code == 200 or not response.headers.get("Content-Range", "").startswith(
            f"bytes {start}-{end}/{shared.size}"
        ):
            raise SegmentsRestart(f"{shared.url} answered {response.status_code} to a range")
        if response.status_code != 206:
            raise httpx.TransportError(f"HTTP {response.status_code} for a piece")
        for chunk in response.iter_raw():
            if position + len(chunk) > end + 1:
                raise SegmentsRestart(f"{shared.url} sent more than the range asked for")
            os.pwrite(shared.fd, chunk, position)
            position += len(chunk)
            with shared.lock:
                shared.fetched += len(chunk)
                done = shared.have() + (position - start)
            if shared.progress:
                shared.progress(min(done, shared.size), shared.size)
    if position != end + 1:
        raise httpx.TransportError(f"piece {index} ended after {position - start} bytes")


def _worker(client: httpx.Client, shared: _Shared) -> None:
    while (index := shared.take()) is not None:
        for attempt in range(1, PIECE_ATTEMPTS + 1):
            try:
                _fetch_piece(client, shared, index)
                break
            except httpx.HTTPError as exc:
                if attempt == PIECE_ATTEMPTS:
                    return _fail(shared, exc)
            except BaseException as exc:  # handed to the caller
                return _fail(shared, exc)
        with shared.lock:
            shared.done.add(index)
            shared.save()
            shared.finished.notify_all()
    return None


def _fail(shared: _Shared, exc: BaseException) -> None:
    with shared.lock:
        shared.failed = shared.failed or exc
        shared.finished.notify_all()


def _hash_in_order(shared: _Shared, hashers: dict[str, hashlib._Hash]) -> None:
    """Hash piece after piece as they finish, reading back what the workers wrote."""
    for index in range(shared.pieces):
        with shared.lock:
            while index not in shared.done and shared.failed is None:
                shared.finished.wait()
            if shared.failed is not None:
                return
        start, end = shared.bounds(index)
        position = start
        while position <= end:
            block = os.pread(shared.fd, min(HASH_READ, end + 1 - position), position)
            if not block:
                _fail(shared, OSError(f"{shared.state_file}: the part file is shorter"))
                return
            for hasher in hashers.values():
                hasher.update(block)
            position += len(block)


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
    done: set[int] | None = None,
) -> Segmented:
    """Fill `part` with `size` bytes of `url` over `connections` connections; hash it in order.

    Raises SegmentsRestart when the file changed, UpstreamError when a piece keeps failing
    (the part and its pieces state are kept: running again resumes).
    """
    destination = part.with_name(part.name.removeprefix(".").removesuffix(".part"))
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, 0)
            done = set()
        shared = _Shared(
            url, size, validator, fd, state_path(destination), set(done or ()), progress
        )
        shared.save()
        hashers = new_hashers(algorithms)
        count = max(1, min(connections, MAX_CONNECTIONS, shared.pieces))
        threads = [threading.Thread(target=_worker, args=(client, shared)) for _ in range(count)]
        threads.append(threading.Thread(target=_hash_in_order, args=(shared, hashers)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.close(fd)
    if isinstance(shared.failed, SegmentsRestart):
        part.unlink(missing_ok=True)
        state_path(destination).unlink(missing_ok=True)
        raise shared.failed
    if shared.failed is not None:
        raise UpstreamError(
            f"{url} failed over {count} connections ({type(shared.failed).__name__}: "
            f"{shared.failed}). The {len(shared.done)} finished pieces of {shared.pieces} were "
            f"kept in {part}: run the same command again to resume.",
            url=url,
        ) from shared.failed
    state_path(destination).unlink(missing_ok=True)
    return Segmented(shared.fetched, hashers)


def resume(
    client: httpx.Client,
    url: str,
    part: Path,
    *,
    algorithms: set[str],
    connections: int,
    progress: Progress | None,
) -> Segmented | None:
    """Continue an interrupted segmented download of `url` into `part`; None when there is none."""
    destination = part.with_name(part.name.removeprefix(".").removesuffix(".part"))
    state = saved_state(destination, url)
    if state is None or state.get("piece") != PIECE_SIZE or not part.exists():
        state_path(destination).unlink(missing_ok=True)
        return None
    return fetch(
        client,
        url,
        part,
        size=state["size"],
        validator=state.get("validator"),
        algorithms=algorithms,
        connections=max(connections, 1),
        progress=progress,
        done={int(i) for i in state["done"]},
    )
