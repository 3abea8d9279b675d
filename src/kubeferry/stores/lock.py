"""One lock per target folder (the k3s cache, a bundle folder, a kuberlr folder).

Two runs that write the same folder would share its `.part` files and staging folders; the
second one waits for the first instead. The lock is an OS file lock (`fcntl.flock` on POSIX,
`msvcrt.locking` on Windows) on `<folder>/.kubeferry.lock`, so it is released when its holder
dies, even by `kill -9`, and a stale lock file (left by a killed run) means nothing. The holder
writes its pid into the file so the waiting run can say whom it waits for, and deletes the file
when it is done, so a finished run leaves no trace in a kuberlr folder or a bundle.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

from kubeferry.core.layouts import LOCK_NAME
from kubeferry.errors import UnsafePathError
from kubeferry.files.safe import open_plain

POLL_SECONDS: Final = 0.1
# Windows locks byte ranges and refuses reads of a locked range, so the pid lives before it.
_WINDOWS_LOCK_OFFSET: Final = 64

Announce = Callable[[str], None]
"""Receives a sentence for the person (the CLI prints it on stderr)."""


def _open_lock_file(path: Path) -> int:
    return open_plain(path, os.O_RDWR | os.O_CREAT)


def _try_lock(descriptor: int) -> bool:
    if os.name == "nt":
        import msvcrt

        os.lseek(descriptor, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(descriptor: int) -> None:
    if os.name == "nt":
        import msvcrt

        os.lseek(descriptor, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    import fcntl

    fcntl.flock(descriptor, fcntl.LOCK_UN)


def _holder(descriptor: int) -> str:
    try:
        text = os.pread(descriptor, 32, 0) if hasattr(os, "pread") else b""
    except OSError:
        return ""
    words = text.decode("ascii", errors="replace").split()
    return words[0] if words and words[0].isascii() and words[0].isdigit() else ""


def _write_pid(descriptor: int) -> None:
    record = f"{os.getpid()}\n".encode().ljust(32)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, record)


def _same_file(descriptor: int, path: Path) -> bool:
    """True while `path` still names the file locked through `descriptor` (not unlinked)."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def _acquire(
    path: Path, announce: Announce | None, what: str, sleep: Callable[[float], None]
) -> int:
    """A descriptor of `path` holding its lock; waits (saying so once) while another run has it.

    The holder deletes the file when it is done, so a lock won on a file that is no longer at
    `path` is worthless: open again and retry.
    """
    said = False
    while True:
        descriptor = _open_lock_file(path)
        try:
            while not _try_lock(descriptor):
                if announce is not None and not said:
                    pid = _holder(descriptor)
                    who = f"another kubeferry run (pid {pid})" if pid else "another kubeferry run"
                    announce(f"waiting for {who} that is using {what or path.parent} ({path})")
                    said = True
                sleep(POLL_SECONDS)
        except BaseException:
            os.close(descriptor)
            raise
        if _same_file(descriptor, path):
            return descriptor
        os.close(descriptor)


def _release(descriptor: int, path: Path) -> None:
    # Unlinked while still locked, so that no run can lock this file after us; the next run
    # creates a new one. Windows cannot delete an open file: there it stays (harmless).
    if os.name != "nt":
        with contextlib.suppress(OSError):
            path.unlink()
    try:
        _unlock(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def hold(
    folder: Path,
    *,
    announce: Announce | None = None,
    what: str = "",
    sleep: Callable[[float], None] = time.sleep,
    optional: bool = False,
) -> Iterator[Path | None]:
    """Hold the lock of `folder` (created if absent); wait, saying so, while another run has it.

    With `optional` (a bundle only read, perhaps from read-only media) a folder where no lock
    file can be made is used without one. The lock file is gone again when the lock is released.
    """
    path = folder / LOCK_NAME
    try:
        if not optional:
            folder.mkdir(parents=True, exist_ok=True)
        descriptor = _acquire(path, announce, what, sleep)
    except UnsafePathError:
        raise
    except OSError:
        if not optional:
            raise
        yield None
        return
    try:
        _write_pid(descriptor)
        yield path
    finally:
        _release(descriptor, path)


@contextmanager
def hold_all(
    folders: list[tuple[Path, str]], *, announce: Announce | None = None
) -> Iterator[None]:
    """Hold the locks of several (folder, what) pairs in the order given.

    Every caller uses one order (bundle folder, then the cache, then kuberlr folders), so two
    runs never wait for each other in a circle.
    """
    with ExitStack() as stack:
        for folder, what in dict.fromkeys(folders):
            stack.enter_context(hold(folder, announce=announce, what=what))
        yield
