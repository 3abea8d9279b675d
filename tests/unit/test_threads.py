"""Thread groups survive an interrupted wait (jobs/threads.py), where Thread.join does not."""

from __future__ import annotations

import signal
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
