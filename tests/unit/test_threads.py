"""Thread groups survive an interrupted wait (jobs/threads.py), where Thread.join does not."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest

from kubeferry.jobs.threads import ThreadGroup


def _ctrl_c_soon() -> None:
    main = threading.main_thread().ident
    assert main is not None
    threading.Timer(0.2, signal.pthread_kill, args=(main, signal.SIGINT)).start()


def test_an_interrupted_wait_still_waits_for_the_threads() -> None:
    release = threading.Event()
    group = ThreadGroup()
    ended = group.start(release.wait, 30)
    _ctrl_c_soon()
    with pytest.raises(KeyboardInterrupt):
        group.wait()
    assert group.wait(0) is False and not ended.is_set()  # still running, and known to be
    release.set()
    assert group.wait(10) is True and ended.is_set()


def test_a_thread_that_raises_still_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    reported = threading.Event()

    def hook(args: threading.ExceptHookArgs) -> None:
        seen.append(args.exc_type)
        reported.set()

    monkeypatch.setattr(threading, "excepthook", hook)  # the error is reported, not swallowed
    group = ThreadGroup()
    ended = group.start(lambda: 1 / 0)
    assert group.wait(10) is True and ended.is_set()
    assert reported.wait(10) and seen == [ZeroDivisionError]


WAITER = """
import signal, sys, threading, time
from kubeferry.jobs.threads import ThreadGroup

def interrupted(number, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGINT, interrupted)
release = threading.Event()
group = ThreadGroup()
started = threading.Event()
worker = []

def work():
    worker.append(threading.get_ident())
    started.set()
    release.wait(30)

group.start(work)
started.wait()
threading.Timer(0.2, lambda: signal.pthread_kill(worker[0], signal.SIGINT)).start()
began = time.monotonic()
try:
    group.wait()
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - began:.2f}")
    release.set()
    sys.exit(0)
print("not interrupted")
sys.exit(1)
"""


def test_a_ctrl_c_handed_to_a_worker_thread_still_interrupts_the_wait() -> None:
    """The kernel may deliver a process's SIGINT to any thread; the main thread's wait must
    still end so Python runs the handler (it waits in slices of SIGNAL_CHECK seconds)."""
    done = subprocess.run(
        [sys.executable, "-c", WAITER], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    seconds = float(done.stdout.split()[-1])
    assert seconds < 5, f"the wait ended {seconds} s after the signal, not at the next slice"
