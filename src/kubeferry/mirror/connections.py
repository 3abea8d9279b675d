"""Connection hygiene: deadlines, a cap below the open-files limit, one-line logs (network).

- A client has HEADER_TIMEOUT seconds to send a whole request header (from the connection's
  start, or from the first byte of its next request), and IDLE_TIMEOUT seconds between one
  answer and the first byte of its next request; then the connection is closed.
- At most `cap` connections at once, below the open-files limit (whose soft value is raised to
  the hard one at start). A connection beyond the cap closes the connection that has been idle
  (or reading its header) the longest; when every connection is busy sending, the new one is
  closed at once.
- Errors the event loop reports (`accept()` out of files, a failed TLS handshake) and malformed
  requests are logged as one line each, the same kind at most once per LOG_INTERVAL with a count
  of those left out: never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, cast

from aiohttp import web_protocol

HEADER_TIMEOUT: Final = 10.0
IDLE_TIMEOUT: Final = 15.0
LOG_INTERVAL: Final = 10.0
MAX_CONNECTIONS: Final = 10_000
ACCEPT_BATCH: Final = 16  # connections asyncio accepts per event-loop turn
# Logs, bundle folders, copies, hashing: 64. And asyncio holds sockets the cap has not counted
# yet: one accept batch, the batch whose protocols are still being made (a task each), and the
# batch of connections closed for room (closed a turn later): 4 batches to be safe.
RESERVED_FILES: Final = 64 + 4 * ACCEPT_BATCH


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one; the soft limit then in force."""
    try:
        import resource  # POSIX only
    except ImportError:  # pragma: no cover - Windows
        return 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    except (ValueError, OSError):
        pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(open_files: int, reserved: int) -> int:
    """How many connections fit below `open_files` with `reserved` descriptors kept aside."""
    return max(8, min(MAX_CONNECTIONS, open_files - RESERVED_FILES - reserved))


class RateLimitedLog:
    """One line per kind of event per interval, with the count of those left out."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}

    def __call__(self, kind: str, line: str) -> None:
        """Log `line` unless a line of `kind` was logged less than an interval ago."""
        now = self._clock()
        last, left_out = self._seen.get(kind, (-self._interval, 0))
        if now - last < self._interval:
            self._seen[kind] = (last, left_out + 1)
            return
        if len(self._seen) > 256:
            self._seen.clear()
        self._seen[kind] = (now, 0)
        more = f" ({left_out} more like it in the last {self._interval:.0f} s)" if left_out else ""
        self._logger.error("%s%s", line[:500], more)

    def loop_errors(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An event-loop exception handler: one line, rate-limited, no traceback."""
        message = str(context.get("message") or "event loop error")
        error = context.get("exception")
        detail = f": {type(error).__name__}: {error}" if error is not None else ""
        self(message.split(":", 1)[0], f"{message}{detail}")


class OneLineFormatter(logging.Formatter):
    """A formatter that puts an exception on the same line instead of a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """`message: Type: text` on one line."""
        error = record.exc_info[1] if record.exc_info else None
        record.exc_info = None
        record.exc_text = None
        line = super().format(record)
        if error is not None:
            line += f": {type(error).__name__}: {error}"
        return " ".join(line.split("\n"))[:1000]


class Connections:
    """The open connections, the idle ones in the order they became idle."""

    def __init__(self, cap: int, log: RateLimitedLog) -> None:
        self.cap = cap
        self._log = log
        self.open: set[GuardedHandler] = set()
        self.idle: OrderedDict[GuardedHandler, None] = OrderedDict()

    def admit(self, handler: GuardedHandler) -> bool:
        """Room for `handler`: False when every connection is busy sending."""
        if len(self.open) >= self.cap:
            if not self.idle:
                self._log("cap-full", f"{self.cap} connections are busy; a new one was closed")
                return False
            oldest, _ = self.idle.popitem(last=False)
            self._log("cap", f"{self.cap} connections open: the longest idle ones are closed")
            self.forget(oldest)
            oldest.force_close()
        self.open.add(handler)
        self.idle[handler] = None
        return True

    def busy(self, handler: GuardedHandler) -> None:
        """`handler` is answering a request."""
        self.idle.pop(handler, None)

    def idle_again(self, handler: GuardedHandler) -> None:
        """`handler` waits for its next request."""
        if handler in self.open:
            self.idle[handler] = None
            self.idle.move_to_end(handler)

    def forget(self, handler: GuardedHandler) -> None:
        """`handler`'s connection is gone."""
        self.open.discard(handler)
        self.idle.pop(handler, None)


class GuardedHandler(web_protocol.RequestHandler):
    """aiohttp's HTTP/1.1 protocol with deadlines and a place under the cap."""

    connections: Connections  # set on a subclass per server (see `handler_class`)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit (or close at once), and start the header deadline."""
        self._deadline: asyncio.TimerHandle | None = None
        self._header_started = True
        self._admitted = False
        super().connection_made(transport)
        if not self.connections.admit(self):
            cast(asyncio.Transport, transport).abort()
            return
        self._admitted = True
        self._arm(HEADER_TIMEOUT)

    def data_received(self, data: bytes) -> None:
        """The first byte of a request starts its header deadline."""
        if data and not self._header_started:
            self._header_started = True
            self._arm(HEADER_TIMEOUT)
        super().data_received(data)

    def request_started(self) -> None:
        """A whole header arrived and is being answered: no deadline while answering."""
        self._cancel()
        self.connections.busy(self)

    def log_access(self, request: Any, response: Any, time: float | None) -> None:
        """After every answer: log it and wait for the next request (IDLE_TIMEOUT)."""
        super().log_access(request, response, time)
        if self._admitted and self.transport is not None:
            self._header_started = False
            self._arm(IDLE_TIMEOUT)
            self.connections.idle_again(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the connection."""
        self._cancel()
        self.connections.forget(self)
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._cancel()
        self._deadline = self._loop.call_later(seconds, self._expire)

    def _cancel(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            assert self._deadline is not None
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self.connections.forget(self)
        self.force_close()


def handler_class(connections: Connections) -> type[GuardedHandler]:
    """A GuardedHandler class bound to one server's connections."""
    return type("MirrorConnection", (GuardedHandler,), {"connections": connections})
