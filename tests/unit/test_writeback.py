"""Early write-out of a download (download/writeback.py) reaches the kernel and never fails."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

from kubeferry.download import writeback
from kubeferry.download.memory import keep_freed_buffers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux-only")
def test_the_call_reaches_the_kernel(tmp_path: Path) -> None:
    start = writeback._starter()
    assert start is not None
    with (tmp_path / "data").open("wb") as stream:
        stream.write(os.urandom(1 << 20))
        stream.flush()
        assert start(stream.fileno(), 0, 1 << 20) == 0
    assert start(-1, 0, 1 << 20) == -1  # no such descriptor: the kernel answered EBADF


def test_writeback_follows_a_file_and_never_raises(tmp_path: Path) -> None:
    with (tmp_path / "data").open("wb") as stream:
        follow = writeback.Writeback(stream.fileno())
        for _ in range(3):
            stream.write(b"x" * writeback.WINDOW)
            stream.flush()
            follow.wrote_up_to(stream.tell())
    writeback.start_writeback(-1, 0, 10)  # a bad descriptor is ignored: fsync reports errors
    assert (tmp_path / "data").stat().st_size == 3 * writeback.WINDOW


def test_freed_buffers_are_kept_where_glibc_allows_it() -> None:
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_buffers() is glibc
    assert keep_freed_buffers() is glibc  # once per process: the same answer, no second call
