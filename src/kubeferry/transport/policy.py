"""How a transfer is bounded and stopped: retries, low speed, a whole-attempt timeout, Ctrl-C.

A socket read blocks until bytes arrive, so a worker thread cannot notice a stall or a Ctrl-C by
itself. Each streaming response gets a `Watch`: a small thread that samples the bytes received
every quarter second and, when the transfer is too slow for too long (curl's `--speed-limit` and
`--speed-time`), runs longer than the timeout, or is cancelled, shuts the socket down so the
blocked read returns at once. Cancellation is per job: each watch takes the job's token
(jobs/cancel.py) and registers with it, so cancelling one job wakes only that job's reads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final

from kubeferry.jobs.cancel import CancelToken, TransferCancelled

__all__ = ["TransferCancelled"]  # its home is jobs/cancel.py; callers of 0.2 import it here

DEFAULT_SPEED_LIMIT: Final = 1024
DEFAULT_SPEED_TIME: Final = 30.0
RETRY_AFTER_CAP: Final = 60.0
TICK_SECONDS: Final = 0.25


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff."""

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class RetryNotice:
    """One failed attempt that will be tried again (for the person watching)."""

    url: str
    error: str
    attempt: int
    attempts: int
    delay: float

    @property
    def message(self) -> str:
        """`<url>: <what failed>; next try in N s (attempt 2 of 5)`."""
        return (
            f"{self.url}: {self.error}; next try in {self.delay:.0f} s "
            f"(attempt {self.attempt + 1} of {self.attempts})"
        )


@dataclass(frozen=True)
class TransferPolicy:
    """Limits for every download of one client (KUBEFERRY_SPEED_LIMIT/_SPEED_TIME/_TIMEOUT)."""

    speed_limit: int = DEFAULT_SPEED_LIMIT
    speed_time: float = DEFAULT_SPEED_TIME
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    retry_after_cap: float = RETRY_AFTER_CAP
    on_retry: Callable[[RetryNotice], None] | None = None


def client_policy(client: Any) -> TransferPolicy:
    """The limits `http.open_client` attached to `client` (defaults otherwise)."""
    found = getattr(client, "transfer_policy", None)
    return found if isinstance(found, TransferPolicy) else TransferPolicy()


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP-date); None if absent."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text[:9]))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _socket_of(response: Any) -> socket.socket | None:
    stream = getattr(response, "extensions", {}).get("network_stream")
    if stream is None:
        return None
    try:
        found = stream.get_extra_info("socket")
    except Exception:  # an unknown stream type: fall back to the checks between chunks
        return None
    return found if isinstance(found, socket.socket) else None


class _Streamed:
    """A bare network stream dressed as a response, for `_socket_of`."""

    def __init__(self, stream: Any) -> None:
        self.extensions = {"network_stream": stream}


class Watch:
    """Watches one response body: trips on low speed, the timeout or a cancel of `cancel`."""

    def __init__(
        self, policy: TransferPolicy, response: Any, started: float, cancel: CancelToken
    ) -> None:
        self.policy = policy
        self.cancel = cancel
        self.reason: str | None = None
        self._received = 0
        self._started = started
        self._socket = _socket_of(response)
        self._done = threading.Event()
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        self.cancel.watch(self)  # trips at once when the job was cancelled already
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.cancel.unwatch(self)
        self._thread.join()

    def count(self, size: int) -> None:
        """Bytes that arrived; raises when the watch tripped meanwhile."""
        self._received += size
        if self.reason is not None:
            raise WatchTripped(self.reason)

    def attach(self, stream: Any) -> None:
        """Watch the socket of `stream` (a connection opened for this request) from now on.

        A request's socket is known only once its answer started; a new connection's is known
        earlier (httpcore's trace), so a stall in the answer's headers is caught as well.
        """
        found = _socket_of(_Streamed(stream))
        if found is None:
            return
        self._socket = found
        if self.reason is not None:
            self.trip(self.reason)

    def trip(self, reason: str) -> None:
        """Stop the transfer: remember why, and wake the blocked read."""
        if self.reason is None:
            self.reason = reason
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to wake
                self._socket.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        policy = self.policy
        while not self._done.wait(TICK_SECONDS):
            now = time.monotonic()
            if self.cancel.cancelled:
                return self.trip("cancelled")
            if policy.timeout is not None and now - self._started > policy.timeout:
                limit = policy.timeout
                return self.trip(f"the attempt took longer than the timeout of {limit:g} s")
            if self._too_slow(now):
                return self.trip(
                    f"stalled: less than {policy.speed_limit} bytes/s for {policy.speed_time:g} s"
                )
        return None

    def _too_slow(self, now: float) -> bool:
        policy, samples = self.policy, self._samples
        if policy.speed_limit <= 0 or policy.speed_time <= 0:
            return False
        samples.append((now, self._received))
        while len(samples) > 1 and now - samples[1][0] >= policy.speed_time:
            samples.popleft()
        since, then = samples[0]
        span = now - since
        return span >= policy.speed_time and self._received - then < policy.speed_limit * span


class WatchTripped(Exception):
    """Raised in the reading thread when its watch tripped between two chunks."""
