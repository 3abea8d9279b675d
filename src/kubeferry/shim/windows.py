"""Running kubectl as a child on Windows, where exec does not replace the process.

Ctrl-C and Ctrl-Break reach every process attached to the console, kubectl included, so the
wrapper forwards nothing for them: it only keeps itself alive (no traceback) and waits for
kubectl's exit code. `Popen.send_signal` on Windows accepts only SIGTERM, CTRL_C_EVENT and
CTRL_BREAK_EVENT (SIGINT raises ValueError), so SIGTERM becomes `terminate()`.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from typing import Any

CONSOLE_SIGNALS = ("SIGINT", "SIGBREAK")


def forwarder(child: subprocess.Popen[Any]) -> Callable[[int, object], None]:
    """The wrapper's handler: console signals are the child's already; SIGTERM ends it."""

    def forward(signum: int, _frame: object) -> None:
        if signum == getattr(signal, "SIGTERM", None):
            try:
                child.terminate()
            except OSError:
                pass

    return forward


def run_child(path: str, args: list[str]) -> int:
    """Run kubectl with the console inherited, survive Ctrl-C/Break, return its exit code."""
    try:
        child = subprocess.Popen([path, *args])
    except OSError as exc:
        import sys

        sys.stderr.write(f"kubeferry: cannot run {path}: {exc}\n")
        return 255
    handler = forwarder(child)
    for name in (*CONSOLE_SIGNALS, "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # a handler installed too late: keep waiting for kubectl
            continue
