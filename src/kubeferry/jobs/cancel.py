"""Stopping one job: a `CancelToken` handed to every call that works for the job.

A command (or one job of a long-running process) makes a token and passes it down: downloads
check it between attempts and pieces, pools stop taking tasks, pauses between retries end
early, and every watched transfer (transport/policy.py `Watch`) registers with it so that
`cancel()` wakes its blocked read at once. Cancelling one token stops that job only; another
job with its own token goes on.

The command line makes one token per command (its settings carry it); `CancelToken.on_signals`
turns Ctrl-C (and SIGTERM) into a cancel of that token. Standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings import this module: a class less to build at every start
    from typing import Protocol

    class Trippable(Protocol):
        """What a token wakes when it is cancelled (a transfer's watch)."""

        def trip(self, reason: str) -> None: ...


class TransferCancelled(KeyboardInterrupt):
    """The job was cancelled (Ctrl-C); a `.part` file stays for the next run."""


class CancelToken:
    """Cancellation of one job: `cancel()` once, seen by every call the token was passed to.

    `cancel()` may run in a signal handler of the main thread while that thread holds the
    token's lock: the lock is reentrant, and the flag is a plain attribute read without it.
    """

    def __init__(self) -> None:
        self._cancelled = False
        self._changed = threading.Condition(threading.RLock())
        self._watches: set[Trippable] = set()

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self._cancelled})"

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` ran."""
        return self._cancelled

    def cancel(self) -> None:
        """Stop the job now: pauses end, watched reads are woken, checks raise."""
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()
            watches = list(self._watches)
        for watch in watches:
            watch.trip("cancelled")

    def check(self) -> None:
        """Raise TransferCancelled once the token was cancelled."""
        if self._cancelled:
            raise TransferCancelled()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, ending early on a cancel; True when cancelled."""
        with self._changed:
            return self._changed.wait_for(lambda: self._cancelled, seconds)

    def pause(self, seconds: float) -> None:
        """Sleep between attempts; TransferCancelled when cancelled meanwhile."""
        if self.wait(seconds):
            raise TransferCancelled()

    def watch(self, watch: Trippable) -> None:
        """Wake `watch` on a cancel (at once if the token is already cancelled)."""
        with self._changed:
            self._watches.add(watch)
            cancelled = self._cancelled
        if cancelled:
            watch.trip("cancelled")

    def unwatch(self, watch: Trippable) -> None:
        """Forget `watch` (its transfer ended)."""
        with self._changed:
            self._watches.discard(watch)

    @contextmanager
    def on_signals(self) -> Iterator[CancelToken]:
        """While inside: Ctrl-C cancels this token and raises KeyboardInterrupt (as Python does
        by default), SIGTERM cancels it and exits with 143. Outside the main thread: nothing
        changes (only the main thread may handle signals)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        import signal  # not at import: local commands never need it

        def interrupted(number: int, frame: object) -> None:
            self.cancel()
            if number == signal.SIGTERM:
                raise SystemExit(128 + number)
            raise KeyboardInterrupt

        previous = {n: signal.signal(n, interrupted) for n in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
