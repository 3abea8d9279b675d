"""Stopping child processes: Ctrl-C as a terminal sends it (and how long it took to end), and
the SIGTERM-then-SIGKILL stop of a test server."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Interrupted:
    """How the child ended after SIGINT."""

    returncode: int
    stderr: str
    seconds: float


def interrupt(child: subprocess.Popen[str], *, guard: float) -> Interrupted:
    """Send SIGINT, wait for the child (killed after `guard` seconds: a hang fails the test)."""
    child.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, stderr = child.communicate(timeout=guard)
    finally:
        child.kill()
    return Interrupted(child.returncode, stderr or "", time.monotonic() - sent)


def terminate(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
