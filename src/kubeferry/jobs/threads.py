"""Worker threads waited for on a condition, never with `Thread.join`.

On Python 3.11 and 3.12 a `Thread.join` that Ctrl-C interrupts marks the thread finished while
it still runs (bpo-45274): a later join returns at once, so a caller that then closes a file
descriptor the thread writes to may see it reused under the thread, and a grace period meant for
the workers to write what they hold ends before it began. A `ThreadGroup` counts its threads
under a condition; waiting on a condition survives an interruption.

The wait without an end wakes every SIGNAL_CHECK seconds. Ctrl-C is a signal to the whole
process and the kernel may hand it to any thread: Python then runs its handler only when the
main thread next runs Python code, and a main thread asleep on a lock until the workers end
never did, so a download went on (seen about once in 150 Ctrl-Cs of `bundle pull` on a busy
machine; tests/unit/test_threads.py sends the signal to a worker on purpose).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

STOP_GRACE: Final = 1.0
"""Seconds a group is given to end after Ctrl-C or a failure woke its threads."""
SIGNAL_CHECK: Final = 0.1
"""Seconds between wake-ups of a wait without an end, so a signal's handler runs meanwhile."""


class ThreadGroup:
    """Daemon threads started together; `wait` returns once all of them ended."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0

    def start(self, target: Callable[..., object], *args: object) -> threading.Event:
        """Run `target(*args)` in a new daemon thread of this group; the event is set when it
        ended (to wait for that one thread alone)."""
        ended = threading.Event()

        def run() -> None:
            try:
                target(*args)
            finally:
                ended.set()
                self._ended()

        with self._changed:
            self._running += 1
        try:
            threading.Thread(target=run, daemon=True).start()
        except BaseException:
            ended.set()
            self._ended()
            raise
        return ended

    def _ended(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every thread ended; False when `timeout` seconds passed first."""
        if timeout is not None:
            with self._changed:
                return self._changed.wait_for(lambda: self._running == 0, timeout)
        while True:  # wakes now and then, outside the lock, so a signal's handler can run
            with self._changed:
                if self._changed.wait_for(lambda: self._running == 0, SIGNAL_CHECK):
                    return True
