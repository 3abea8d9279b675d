"""Starting the detached revalidation of a cached answer (warm path: `os` and `sys` only).

A double fork: the wrapper waits only for the first child, which starts a new session, forks the
refresher and exits at once, so the refresher is nobody's zombie, survives the wrapper's exec
of kubectl, holds none of its pipes (stdin, stdout and stderr are /dev/null, other descriptors
closed) and never delays the user's command. One refresher at a time: a lock file beside the
cache, ignored once it is older than LOCK_STALE seconds (a refresher that was killed).
"""

from __future__ import annotations

import os
import sys

LOCK_STALE = 120.0
PROGRAM = (
    "import sys;sys.path[:0]={path!r};"
    "from kubeferry.shim.refresh import main;sys.exit(main(sys.argv[1:]))"
)


def lock_file(cache_path: str) -> str:
    """The refresher's lock, beside the version cache."""
    return cache_path + ".refreshing"


def _take_lock(lock: str, now: float) -> bool:
    try:
        if 0 <= now - os.stat(lock).st_mtime < LOCK_STALE:
            return False
    except OSError:
        pass
    try:
        os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.utime(lock)
    except OSError:
        return False
    return True


def start_refresh(cache_path: str, flags: list[str], now: float) -> None:
    """Revalidate the version cache for `flags` (--context/--kubeconfig) in a detached process."""
    lock = lock_file(cache_path)
    if not _take_lock(lock, now):
        return
    argv = [sys.executable, "-S", "-c", PROGRAM.format(path=sys.path), lock, *flags]
    if sys.platform.startswith("win"):
        _start_windows(argv)
        return
    try:
        pid = os.fork()
    except OSError:
        return
    if pid == 0:  # first child: detach, fork the refresher, leave
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for descriptor in (0, 1, 2):
                    os.dup2(null, descriptor)
                os.closerange(3, 65536)
                os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter
        finally:
            os._exit(0)
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def _start_windows(argv: list[str]) -> None:
    import subprocess

    flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
        subprocess, "CREATE_NEW_PROCESS_GROUP", 0
    )
    try:
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            creationflags=flags,
        )
    except OSError:
        pass
