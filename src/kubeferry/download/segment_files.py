"""A download in pieces: the state its threads share, the part file, the pieces state file, and
the thread that writes the first answer's bytes.

`.<name>.part.segments.json` lists the finished pieces (url, size, validator, piece size), so an
interrupted download in pieces resumes with the pieces it lacks (download/segmented.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kubeferry.download.memory import keep_freed_buffers
from kubeferry.download.partfiles import note_partial
from kubeferry.download.writeback import start_writeback
from kubeferry.errors import KubeferryError
from kubeferry.files.safe import open_plain, write_text_atomically
from kubeferry.files.textfiles import read_bytes
from kubeferry.jobs.cancel import CancelToken
from kubeferry.jobs.progress import Progress
from kubeferry.jobs.threads import ThreadGroup

if TYPE_CHECKING:
    from kubeferry.transport.policy import Watch

STATE_SUFFIX: Final = ".part.segments.json"
PIECE_SIZE: Final = 8 * 1024 * 1024
HAND_OVER: Final = 1024 * 1024
PARTIAL_EVERY: Final = 1.0


def state_path(destination: Path) -> Path:
    """`.<name>.part.segments.json` beside the destination."""
    return destination.with_name(f".{destination.name}{STATE_SUFFIX}")


def saved_state(destination: Path, url: str) -> dict[str, Any] | None:
    """The pieces state of an interrupted segmented download of `url`, if there is one.

    It is a file in the user's folder: anything that is not exactly what a run writes (sizes,
    piece numbers in range, a text validator) means "no state", and the part starts over.
    """
    try:  # never through a link, never blocking on a FIFO; anything odd means "no state"
        state = json.loads(read_bytes(state_path(destination), missing=""))
    except (KubeferryError, OSError, ValueError, RecursionError):
        return None
    if not isinstance(state, dict) or state.get("url") != url:
        return None
    size, done, validator = state.get("size"), state.get("done"), state.get("validator")
    if type(size) is not int or size <= 0 or not isinstance(done, list):
        return None
    pieces = -(-size // PIECE_SIZE)
    if not all(type(i) is int and 0 <= i < pieces for i in done):
        return None
    if validator is not None and not isinstance(validator, str):
        return None
    state["partial"] = _partial(state.get("partial"), size)
    return state


def _partial(found: object, size: int) -> dict[int, int]:
    """The begun pieces of a saved state (index -> end of the bytes kept), only where they make
    sense (inside their piece, past its start); anything else is fetched again."""
    kept: dict[int, int] = {}
    for key, end in found.items() if isinstance(found, dict) else ():
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 10):
            continue
        index = int(key)
        piece_end = min(size, (index + 1) * PIECE_SIZE)
        if type(end) is int and index * PIECE_SIZE < end < piece_end:
            kept[index] = end
    return kept


def open_part(part: Path) -> int:
    """The part file for reading and writing, never through a link, and only a regular file."""
    note_partial()
    return open_plain(part, os.O_RDWR | os.O_CREAT)


def write_at(fd: int, data: memoryview, position: int) -> None:
    """All of `data` at `position` (pwrite may write less than asked)."""
    while data:
        written = os.pwrite(fd, data, position)
        data, position = data[written:], position + written


@dataclass
class Pieces:
    """What the lead, the helpers, the hashing thread and the caller share (under `lock`)."""

    url: str
    size: int
    validator: str | None
    fd: int
    state_file: Path
    done: set[int]
    progress: Progress | None
    cancel: CancelToken = field(default_factory=CancelToken)
    """The job's token (Ctrl-C): checked after every chunk."""
    starts: dict[int, int] = field(default_factory=dict)
    """Where a piece begun earlier is continued from: one the lead gave up midway, or one an
    interrupted run had begun (its bytes so far are kept)."""
    written: dict[int, int] = field(default_factory=dict)
    """Pieces begun and not finished -> the end of their bytes written so far (saved as
    "partial", so a killed run loses at most what came since the last save)."""
    lead_bytes: queue.Queue[list[memoryview] | None] = field(default_factory=lambda: queue.Queue(4))
    """The lead's bytes in order, in batches, for the hashing thread (None: the lead stopped)."""
    claimed: set[int] = field(default_factory=set)
    watches: set[Watch] = field(default_factory=set)
    """The helpers' open answers: a failure trips them all, so no read is left waiting."""
    fetched: int = 0
    had: int = 0
    failed: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    saving: threading.Lock = field(default_factory=threading.Lock)
    """Held while the state file is written (never `lock`: the lead must not wait on a disk)."""
    unsaved: bool = False
    """Pieces finished since the last save (for the saving thread)."""
    moved: bool = False
    """Bytes written into unfinished pieces since the last save."""
    closing: bool = False
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)
        self.claimed = set(self.done)
        self.starts = {i: end for i, end in self.starts.items() if i not in self.done}
        self.written = dict(self.starts)
        begun = sum(end - i * PIECE_SIZE for i, end in self.starts.items())
        self.had = sum(self.length(i) for i in self.done) + begun

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
        self.cancel.check()
        with self.lock:
            self.fetched += count
            now = self.had + self.fetched
        if self.progress:
            self.progress(min(now, self.size), self.size)

    def save(self) -> None:
        """The pieces state beside the part: what a resume may keep.

        Saves run one at a time, each with the newest list, so the file never lists fewer
        pieces than an earlier save did. It is not synced: after a power cut it may list a piece
        whose bytes did not reach the disk, and the whole file's digest then fails, deleting it
        (never a wrong file under its name). Saved by the thread that wrote a piece, and
        synced, it held up a fast download by a third (benchmarks/RESULTS.md): `keep_saving`
        saves in a thread of its own.
        """
        with self.saving:
            with self.lock:
                done, self.unsaved, self.moved = sorted(self.done), False, False
                partial = {str(i): end for i, end in self.written.items() if i not in self.done}
            state = {"url": self.url, "size": self.size, "validator": self.validator}
            state["piece"], state["done"], state["partial"] = PIECE_SIZE, done, partial
            # Best effort: a state that cannot be written costs pieces fetched again, and the
            # failure that matters (a full disk under the part) is reported by the download.
            with contextlib.suppress(KubeferryError, OSError):
                write_text_atomically(self.state_file, json.dumps(state), durable=False)

    def wrote(self, index: int, end: int) -> None:
        """Piece `index` holds every byte up to `end` (exclusive) now (a complete piece is
        listed by `finish` instead)."""
        if end >= index * PIECE_SIZE + self.length(index):
            return
        with self.lock:
            self.written[index] = end
            self.moved = True

    def finish(self, index: int) -> None:
        """Piece `index` is written: list it, and start writing it out to disk."""
        start_writeback(self.fd, index * PIECE_SIZE, self.length(index))
        with self.lock:
            self.done.add(index)
            self.written.pop(index, None)
            self.unsaved = True
            self.changed.notify_all()

    def keep_saving(self) -> None:
        """The saving thread, until `stop_saving`: save whenever pieces finished (several at
        once when they finish faster than a save takes), and the progress of unfinished pieces
        at least every PARTIAL_EVERY seconds; a kill loses what came since the last save."""
        while True:
            with self.lock:
                if not self.unsaved and not self.closing:
                    self.changed.wait(PARTIAL_EVERY)
                news = self.unsaved or self.moved
                if self.closing and not news:
                    return
            if news:
                self.save()

    def stop_saving(self) -> None:
        """Let the saving thread save what is new, then end."""
        with self.lock:
            self.closing = True
            self.changed.notify_all()

    def release(self, index: int) -> None:
        with self.lock:
            self.claimed.discard(index)

    def watching(self, watch: Watch, *, on: bool) -> None:
        """Register (or forget) a helper's watch; one that comes after a failure trips at once."""
        with self.lock:
            if on:
                self.watches.add(watch)
            else:
                self.watches.discard(watch)
            failed = on and self.failed is not None
        if failed:
            watch.trip("stopped: another piece failed")

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.failed = self.failed or exc
            self.changed.notify_all()
            watches = list(self.watches)
        for watch in watches:
            watch.trip("stopped: another piece failed")


class LeadWriter:
    """Writes the lead's bytes at their offsets in a thread of its own, so the thread that reads
    the socket only reads (as the one-connection path does), and lists each piece it completes.
    Chunks go over in batches of about HAND_OVER bytes (one hand-over per chunk cost a third
    more system time), to this thread and to the hashing thread; at most `depth` batches wait
    for each. A write error fails the whole fetch."""

    def __init__(self, shared: Pieces, group: ThreadGroup, depth: int = 4) -> None:
        keep_freed_buffers()
        self._shared = shared
        self._queue: queue.Queue[tuple[int, list[memoryview], int | None] | None]
        self._queue = queue.Queue(depth)
        self._batch: list[memoryview] = []
        self._start = self._size = 0
        self._failed = False
        self._ended = group.start(self._run)

    def add(self, position: int, data: memoryview, completes: int | None) -> None:
        """`data` goes at `position` (right after the bytes added before); `completes`: the
        piece it finishes, if any (listed once written)."""
        if not self._batch:
            self._start = position
        self._batch.append(data)
        self._size += len(data)
        if completes is not None or self._size >= HAND_OVER:
            self._hand_over(completes)

    def _hand_over(self, completes: int | None) -> None:
        batch, self._batch, self._size = self._batch, [], 0
        self._queue.put((self._start, batch, completes))
        self._shared.lead_bytes.put(batch)  # hashed from memory: exactly what is written

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._failed:
                continue
            position, batch, completes = item
            index = position // PIECE_SIZE  # a batch never runs past its piece
            try:
                for data in batch:
                    write_at(self._shared.fd, data, position)
                    position += len(data)
                self._shared.wrote(index, position)
                if completes is not None:
                    self._shared.finish(completes)
            except BaseException as exc:  # reported by fetch(): the lead stops at its next piece
                self._failed = True
                self._shared.fail(exc)

    def close(self) -> None:
        """Hand over what is left and wait until every byte is written."""
        if self._batch:
            self._hand_over(None)
        self._queue.put(None)
        self._ended.wait()


def hash_in_order(shared: Pieces, hashers: dict[str, hashlib._Hash], lead: bool) -> None:
    """The hashing thread of a fetch: a read error fails the fetch (reported as the disk's),
    never leaves the hashers short."""
    try:
        _hash_pieces(shared, hashers, lead)
    except BaseException as exc:
        shared.fail(exc)


def _hash_pieces(shared: Pieces, hashers: dict[str, hashlib._Hash], lead: bool) -> None:
    """Hash the lead's bytes as they come, then the rest piece by piece, read back."""
    start = 0
    while lead and (batch := shared.lead_bytes.get()) is not None:
        for view in batch:
            for hasher in hashers.values():
                hasher.update(view)
            start += len(view)
    for index in range(start // PIECE_SIZE, shared.pieces):
        with shared.lock:
            while index not in shared.done and shared.failed is None:
                shared.changed.wait()
            if shared.failed is not None:
                return
        position, end = max(start, index * PIECE_SIZE), index * PIECE_SIZE + shared.length(index)
        while position < end:
            block = os.pread(shared.fd, min(HAND_OVER, end - position), position)
            if not block:
                shared.fail(OSError(f"{shared.state_file}: the part file is shorter"))
                return
            for hasher in hashers.values():
                hasher.update(block)
            position += len(block)
