"""One large file over several connections (like aria2c's `-x`), verified as one file.

Used by `download/engine.py` when a fresh GET answers `Accept-Ranges: bytes` with a length of at
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
import os
import queue
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from kubeferry.download.segment_files import (
    PIECE_SIZE,
    LeadWriter,
    Pieces,
    hash_in_order,
    open_part,
    saved_state,
    state_path,
    write_at,
)
from kubeferry.errors import UpstreamError
from kubeferry.files.hashing import new_hashers
from kubeferry.jobs.cancel import CancelToken
from kubeferry.jobs.progress import Progress
from kubeferry.jobs.threads import STOP_GRACE, ThreadGroup
from kubeferry.transport.policy import TransferPolicy, Watch, WatchTripped

__all__ = ["PIECE_SIZE", "saved_state", "state_path"]  # download.py and tests use them from here

SEGMENT_THRESHOLD: Final = 64 * 1024 * 1024
DEFAULT_CONNECTIONS: Final = 4
MAX_CONNECTIONS: Final = 16
FAST_ENOUGH: Final = 256 * 1000 * 1000
"""Either of the first two pieces this fast (bytes/s): one connection (a hiccup is not a limit)."""
PIECE_ATTEMPTS: Final = 4
_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-(\d+)/(\d+)\Z")


class SegmentsRestart(Exception):
    """The server's file changed under the pieces, or it does not answer ranges as asked: start
    over from nothing, on one connection."""


@dataclass(frozen=True)
class Segmented:
    """A finished fetch: bytes fetched now, and hashers that saw the whole file."""

    fetched: int
    hashers: dict[str, hashlib._Hash]
    identity: tuple[int, int, int]
    """(device, inode, size) of the part after the last write and fsync: the hashed bytes."""
    kept: int = 0
    """Bytes of pieces an earlier run had finished (a resume); 0 for a fresh fetch."""


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


def _check_piece_answer(response: httpx.Response, shared: Pieces, start: int, end: int) -> None:
    """A piece's answer must be a 206 of this file from `start` to at least `end`.

    A 200 means If-Range failed (the file changed) or the server ignores ranges; a range that
    starts elsewhere or belongs to another length cannot be used. Either way SegmentsRestart:
    the file starts over on one connection (download.py). A range that runs past `end` is fine:
    the piece is cut where it ends.
    """
    if response.status_code not in (200, 206):
        raise httpx.TransportError(f"HTTP {response.status_code} for a piece")
    answered = response.headers.get("Content-Range", "")
    found = _CONTENT_RANGE.match(answered) if response.status_code == 206 else None
    if found is None or (int(found[1]), int(found[3])) != (start, shared.size):
        raise SegmentsRestart(
            f"{shared.url} answered {response.status_code} {answered or '(no Content-Range)'} "
            f"to 'Range: bytes={start}-{end}'"
        )
    if int(found[2]) < end:
        raise SegmentsRestart(f"{shared.url} answered {answered} to 'Range: bytes={start}-{end}'")


def _fetch_piece(client: httpx.Client, shared: Pieces, index: int, policy: TransferPolicy) -> None:
    end = index * PIECE_SIZE + shared.length(index) - 1
    start = shared.starts.get(index, index * PIECE_SIZE)
    headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
    if shared.validator:
        headers["If-Range"] = shared.validator
    position, began = start, time.monotonic()
    with client.stream("GET", shared.url, headers=headers) as response:
        _check_piece_answer(response, shared, start, end)
        # The watch bounds a stalled or endless piece and lets a failure elsewhere (or Ctrl-C)
        # wake this read at once.
        with Watch(policy, response, began, shared.cancel) as watch:
            shared.watching(watch, on=True)
            try:
                for chunk in response.iter_raw():
                    watch.count(len(chunk))
                    view = memoryview(chunk)[: end + 1 - position]  # a longer answer: cut
                    write_at(shared.fd, view, position)
                    position += len(view)
                    shared.wrote(index, position)
                    shared.received(len(view))
                    if len(view) < len(chunk):
                        break  # the rest is not wanted: leaving early closes that connection
            finally:
                shared.watching(watch, on=False)
    if position != end + 1:
        raise httpx.TransportError(f"piece {index} ended after {position - start} bytes")


def _helper(client: httpx.Client, shared: Pieces, from_back: bool, policy: TransferPolicy) -> None:
    while (index := shared.take(from_back=from_back)) is not None:
        for attempt in range(1, PIECE_ATTEMPTS + 1):
            try:
                _fetch_piece(client, shared, index, policy)
                break
            except (httpx.HTTPError, WatchTripped) as exc:
                if shared.failed is not None:
                    return None  # stopped by a failure elsewhere: that one is reported
                try:
                    shared.cancel.check()  # Ctrl-C woke this read: stop rather than try again
                except BaseException as stop:
                    return shared.fail(stop)
                if attempt == PIECE_ATTEMPTS:
                    return shared.fail(exc)
            except BaseException as exc:  # handed to the caller
                return shared.fail(exc)
        shared.finish(index)
    return None


def _lead(response: httpx.Response, shared: Pieces, crew: _Crew) -> None:
    """Stream the first answer from the front, piece by piece, until it meets a helper."""
    index, position, began, best = 0, 0, time.monotonic(), 0.0
    shared.claim(0)
    writer, start_helpers = LeadWriter(shared, crew.background), crew.start
    try:
        with Watch(crew.policy, response, began, shared.cancel) as watch:
            shared.watching(watch, on=True)  # a helper's failure stops the lead too
            for chunk in response.iter_raw():
                watch.count(len(chunk))
                view = memoryview(chunk)
                while view:
                    piece_end = min(shared.size, (index + 1) * PIECE_SIZE)
                    part, view = view[: piece_end - position], view[piece_end - position :]
                    completes = index if position + len(part) == piece_end else None
                    writer.add(position, part, completes)
                    position += len(part)
                    shared.received(len(part))
                    if completes is None:
                        continue
                    now = time.monotonic()
                    best, began = max(best, PIECE_SIZE / max(now - began, 1e-6)), now
                    if index == 1 and best < FAST_ENOUGH:  # neither of two pieces was fast
                        start_helpers()
                    index += 1
                    if index >= shared.pieces or not shared.claim(index):
                        return
    except (httpx.HTTPError, WatchTripped):
        shared.cancel.check()  # a Ctrl-C that woke the read stops here; anything else: hand over
    finally:
        writer.close()  # before a helper may continue the piece: the bytes before are written
        shared.lead_bytes.put(None)
    if position < shared.size and index < shared.pieces:
        shared.starts[index] = position  # the bytes before it were hashed: never rewritten
        shared.release(index)
        start_helpers()


@dataclass
class _Crew:
    """The threads of one fetch besides the caller's: helpers (started at most once), and in the
    background the lead's writer and the hashing thread. Waited for on conditions (never
    Thread.join, jobs/threads.py), so the part's descriptor is closed only once none of them
    can write to it."""

    client: httpx.Client
    shared: Pieces
    count: int
    from_back: bool
    policy: TransferPolicy
    helpers: ThreadGroup = field(default_factory=ThreadGroup)
    background: ThreadGroup = field(default_factory=ThreadGroup)
    started: bool = False

    def start(self) -> None:
        if self.started or self.count < 1:
            return
        self.started = True
        for _ in range(self.count):
            self.helpers.start(_helper, self.client, self.shared, self.from_back, self.policy)

    def join(self) -> None:
        self.helpers.wait()

    def settle(self) -> bool:
        """After a failure (the reads were tripped): a moment for every thread to end; True
        when all did."""
        return self.helpers.wait(STOP_GRACE) and self.background.wait(STOP_GRACE)

    def idle(self) -> bool:
        return self.helpers.wait(0) and self.background.wait(0)


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
    partial: dict[int, int] | None = None,
    cancel: CancelToken | None = None,
    policy: TransferPolicy | None = None,
) -> Segmented:
    """Fill `part` with `size` bytes of `url`, hashed in order.

    With `response` (a fresh 200 answer) it leads and helpers join only when it is slow;
    without (a resume) `connections` helpers take the missing pieces, continuing the `partial`
    ones (index -> end of the bytes kept) where they stopped. Each answer is watched
    as a one-connection download is (`policy`: low speed, the timeout; `cancel`: Ctrl-C). Raises
    SegmentsRestart when the file changed, UpstreamError when a piece keeps failing, OSError
    when the part cannot be written (the part and its pieces state are kept: running again
    resumes).
    """
    destination = part.with_name(part.name.removeprefix(".").removesuffix(".part"))
    count = max(1, min(connections, MAX_CONNECTIONS))
    fd, crew = open_part(part), None
    try:
        if os.fstat(fd).st_size > size:  # never keep bytes past the end: they are not hashed
            os.ftruncate(fd, size)
        shared = Pieces(
            url,
            size,
            validator,
            fd,
            state_path(destination),
            set(done or ()),
            progress,
            cancel or CancelToken(),
            starts=dict(partial or {}),
        )
        shared.save()  # before any byte: a part with holes is never taken for a sequential one
        hashers = new_hashers(algorithms)
        crew = _Crew(
            client,
            shared,
            count - 1 if response else count,
            from_back=bool(response),
            policy=policy or TransferPolicy(),
        )
        identity = _run(shared, crew, hashers, response)
    finally:
        if crew is None or crew.idle():  # else a thread that would not stop may still write
            os.close(fd)
    result = Segmented(shared.fetched, hashers, identity, kept=shared.had)
    return _outcome(shared, part, destination, result)


def _run(
    shared: Pieces,
    crew: _Crew,
    hashers: dict[str, hashlib._Hash],
    response: httpx.Response | None,
) -> tuple[int, int, int]:
    """The lead (if any), the helpers and the hashing thread, to the end; the part's identity."""
    hashed = crew.background.start(hash_in_order, shared, hashers, response is not None)
    saver = crew.background.start(shared.keep_saving)
    try:
        if response is not None:
            _lead(response, shared, crew)
        else:
            crew.start()
        crew.join()
        if len(shared.done) < shared.pieces:
            missing = UpstreamError(f"{shared.url}: pieces are missing", url=shared.url)
            shared.fail(shared.failed or missing)
        hashed.wait()
        shared.stop_saving()
        saver.wait()  # before the caller removes the state file: never written again after
        os.fsync(shared.fd)  # the bytes are on disk before the name says the file is complete
        found = os.fstat(shared.fd)
    except BaseException as exc:  # Ctrl-C or a write error: stop the others, then raise
        shared.fail(exc)  # trips the helpers' reads
        with contextlib.suppress(queue.Full):
            shared.lead_bytes.put_nowait(None)  # the hashing thread may wait for the lead
        shared.stop_saving()
        crew.settle()
        shared.save()  # every finished piece listed, for the next run
        raise
    return (found.st_dev, found.st_ino, found.st_size)


def _outcome(shared: Pieces, part: Path, destination: Path, result: Segmented) -> Segmented:
    failed = shared.failed
    if isinstance(failed, SegmentsRestart):
        part.unlink(missing_ok=True)
        state_path(destination).unlink(missing_ok=True)
        raise failed
    if failed is not None:
        shared.save()  # every finished piece listed, for the next run
    if isinstance(failed, OSError):  # the disk, not the network: reported as such
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
    cancel: CancelToken | None = None,
    policy: TransferPolicy | None = None,
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
        partial=state["partial"],
        cancel=cancel,
        policy=policy,
    )
