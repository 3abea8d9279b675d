"""Writing one section of benchmarks/RESULTS.md, leaving the others as they are."""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def ratio_summary(ratios: Sequence[float]) -> dict[str, float]:
    """The median of paired ratios (one per interleaved round) with their min and max."""
    return {"ratio": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def replace_section(marker: str, section: str) -> None:
    """Put `section` (starting with `marker`) in place of the old one, or append it."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    if marker in text:
        start = text.index(marker)
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end:] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def compile_bytecode(env: dict[str, str] | None = None) -> None:
    """Write the `__pycache__` of the kubeferry that `python -m kubeferry` runs, as `pip install`
    leaves it (a checkout run with PYTHONDONTWRITEBYTECODE=1 would compile on every start)."""
    code = (
        "import compileall, os, kubeferry; "
        "compileall.compile_dir(os.path.dirname(kubeferry.__file__), quiet=1)"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
