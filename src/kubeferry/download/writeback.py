"""Start writing a download's bytes to disk while it runs, so the final fsync has little left.

A verified file is synced to disk before its final name appears (a power loss must not leave a
name over missing bytes). Synced only at the end, a 500 MB download on loopback waits about
0.2 s for the whole file to reach the disk (benchmarks/RESULTS.md). On Linux,
`sync_file_range(SYNC_FILE_RANGE_WRITE)` asks the kernel to begin writing a range out and
returns at once; done every WINDOW bytes from the writing thread, the disk keeps pace with the
network and the final `fsync` only waits for the tail. Elsewhere (or if the call fails) nothing
changes: the final `fsync` still writes everything. It never replaces that `fsync`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final

from kubeferry.download import libc

WINDOW: Final = 8 * 1024 * 1024
SYNC_FILE_RANGE_WRITE: Final = 2

_Starter = Callable[[int, int, int], object]


@functools.cache  # built once, on the first download
def _starter() -> _Starter | None:
    call = libc.function("sync_file_range", "c_int", "c_int64", "c_int64", "c_uint")
    if call is None:
        return None

    def start(fd: int, offset: int, length: int) -> object:
        return call(fd, offset, length, SYNC_FILE_RANGE_WRITE)

    return start


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to begin writing `length` bytes at `offset` to disk; never waits or fails.

    Errors are ignored on purpose: this only moves work earlier, and the `fsync` before the
    rename reports any real write error.
    """
    if length > 0 and (start := _starter()) is not None:
        start(fd, offset, length)


class Writeback:
    """Follows a file written front to back and starts write-out every WINDOW bytes."""

    def __init__(self, fd: int, start: int = 0) -> None:
        self._fd = fd
        self._started = start

    def wrote_up_to(self, end: int) -> None:
        """The file now holds every byte before `end`."""
        if end - self._started >= WINDOW:
            start_writeback(self._fd, self._started, end - self._started)
            self._started = end
