"""The mirror's one-line, rate-limited logs and its connection cap arithmetic (no sockets)."""

from __future__ import annotations

import logging

import pytest

from kubeferry.mirror.connections import (
    MAX_CONNECTIONS,
    RESERVED_FILES,
    OneLineFormatter,
    RateLimitedLog,
    connection_cap,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _logger(records: list[str]) -> logging.Logger:
    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("test.mirror.connections")
    logger.handlers = [Keep()]
    logger.handlers[0].setFormatter(OneLineFormatter("%(message)s"))
    logger.propagate = False
    return logger


def test_accept_failures_are_one_line_per_interval_with_a_count() -> None:
    records: list[str] = []
    clock = Clock()
    log = RateLimitedLog(_logger(records), interval=10.0, clock=clock)
    context = {
        "message": "socket.accept() out of system resource",
        "exception": OSError(24, "Too many open files"),
    }
    for _ in range(500):
        log.loop_errors(None, context)  # type: ignore[arg-type]
    assert len(records) == 1 and "Too many open files" in records[0]
    clock.now += 10.0
    log.loop_errors(None, context)  # type: ignore[arg-type]
    assert len(records) == 2 and "(499 more like it in the last 10 s)" in records[1]
    assert all("\n" not in line and "Traceback" not in line for line in records)


def test_a_logged_exception_stays_on_one_line() -> None:
    records: list[str] = []
    logger = _logger(records)
    try:
        raise ValueError("bad\nrequest line")
    except ValueError:
        logger.exception("Error handling request from %s", "127.0.0.1")
    assert records == ["Error handling request from 127.0.0.1: ValueError: bad request line"]


@pytest.mark.parametrize(
    ("open_files", "reserved", "expected"),
    [
        (1024, 5, 1024 - RESERVED_FILES - 5),
        (1 << 20, 5, MAX_CONNECTIONS),
        (100, 5, 8),
    ],
)
def test_connection_cap_stays_below_the_open_files_limit(
    open_files: int, reserved: int, expected: int
) -> None:
    assert connection_cap(open_files, reserved) == expected
