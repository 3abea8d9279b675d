"""Running kubectl as a child on Windows, where exec does not replace the process."""

from __future__ import annotations

import signal
import subprocess


def run_child(path: str, args: list[str]) -> int:
    """Run kubectl with the console inherited, forward Ctrl-C/Break, return its exit code."""
    try:
        child = subprocess.Popen([path, *args])
    except OSError as exc:
        import sys

        sys.stderr.write(f"kubeferry: cannot run {path}: {exc}\n")
        return 255

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for name in ("SIGINT", "SIGBREAK", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), forward)
    return child.wait()
