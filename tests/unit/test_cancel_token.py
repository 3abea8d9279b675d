"""The cancel token: per job, early-ending waits, watches woken, signals turned into a cancel."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from kubeferry.jobs.cancel import CancelToken, TransferCancelled


class Recorder:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def trip(self, reason: str) -> None:
        self.reasons.append(reason)


def test_a_fresh_token_is_not_cancelled_and_waits_the_whole_time() -> None:
    token = CancelToken()
    began = time.monotonic()
    assert token.wait(0.2) is False
    assert time.monotonic() - began >= 0.19
    token.check()  # does not raise
    assert not token.cancelled


def test_cancel_ends_a_wait_in_another_thread_at_once() -> None:
    token = CancelToken()
    threading.Timer(0.1, token.cancel).start()
    began = time.monotonic()
    assert token.wait(30) is True
    assert time.monotonic() - began < 5
    with pytest.raises(TransferCancelled):
        token.check()
    with pytest.raises(TransferCancelled):
        token.pause(30)


def test_cancel_trips_the_watches_of_its_job_only() -> None:
    mine, theirs = CancelToken(), CancelToken()
    a, b = Recorder(), Recorder()
    mine.watch(a)
    theirs.watch(b)
    mine.cancel()
    assert a.reasons == ["cancelled"] and b.reasons == []
    assert not theirs.cancelled
    late = Recorder()
    mine.watch(late)  # a transfer that starts after the cancel is stopped at once
    assert late.reasons == ["cancelled"]
    gone = Recorder()
    theirs.watch(gone)
    theirs.unwatch(gone)
    theirs.cancel()
    assert gone.reasons == [] and b.reasons == ["cancelled"]


def test_ctrl_c_cancels_the_token_and_interrupts() -> None:
    token = CancelToken()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), token.on_signals():
        threading.Timer(
            0.1, signal.pthread_kill, args=(threading.main_thread().ident, signal.SIGINT)
        ).start()
        token.wait(30)  # the handler runs here: cancelled, then KeyboardInterrupt
    assert token.cancelled
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_cancels_the_token_and_exits_143() -> None:
    token = CancelToken()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as ended, token.on_signals():
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
        time.sleep(5)
    assert ended.value.code == 143 and token.cancelled
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_signals_are_left_alone() -> None:
    token, seen = CancelToken(), []

    def other() -> None:
        with token.on_signals():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGINT)]
