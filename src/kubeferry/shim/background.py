"""Starting the detached revalidation of a cached answer (warm path: `os` and `sys` only).

`os.posix_spawn` (vfork-based: about half a millisecond, where fork-and-wait costs one to two)
starts the refresher in a new session with stdin, stdout and stderr on /dev/null; the refresher
closes every other inherited descriptor first thing, so it holds none of the user's pipes. The
wrapper does not wait: it execs kubectl at once, and the refresher, once done, is reaped when
kubectl exits (a finished child of a long-running kubectl stays a zombie entry until then: the
price of never waiting). Where posix_spawn cannot set a session, a double fork does it. One
refresher at a time: a lock file beside the cache, ignored once older than LOCK_STALE seconds
(a refresher that was killed).
"""

from __future__ import annotations

import os
import sys

LOCK_STALE = 120.0
PROGRAM = (
    "import os,sys;os.closerange(3,65536);sys.path[:0]={path!r};"
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
    for attempt in (1, 2):
        try:
            os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            os.utime(lock)
            return True
        except FileNotFoundError:
            if attempt == 2:
                return False
            try:
                os.makedirs(os.path.dirname(lock), exist_ok=True)  # no cache written yet
            except OSError:
                return False
        except OSError:
            return False
    return False


FLAGS_VARIABLE = "KUBEFERRY_REFRESH_FLAGS"  # the environment, not argv: `ps` shows argv
SEPARATOR = "\x1f"


def start_refresh(cache_path: str, flags: list[str], now: float) -> None:
    """Revalidate the version cache for `flags` (the connection flags) in a detached process."""
    lock = lock_file(cache_path)
    if not _take_lock(lock, now):
        return
    argv = [sys.executable, "-S", "-c", PROGRAM.format(path=sys.path), lock]
    environ = {**os.environ, FLAGS_VARIABLE: SEPARATOR.join(flags)}
    if sys.platform.startswith("win"):
        _start_windows(argv, environ)
        return
    try:
        os.posix_spawn(
            sys.executable,
            argv,
            environ,
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDWR, 0),
                (os.POSIX_SPAWN_DUP2, 0, 1),
                (os.POSIX_SPAWN_DUP2, 0, 2),
            ],
        )
    except (AttributeError, NotImplementedError, TypeError, OSError):
        _double_fork(argv, environ)


def _double_fork(argv: list[str], environ: dict[str, str]) -> None:
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
                os.execve(sys.executable, argv, environ)  # noqa: S606 - our own interpreter
        finally:
            os._exit(0)
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def _start_windows(argv: list[str], environ: dict[str, str]) -> None:
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
            env=environ,
        )
    except OSError:
        pass
