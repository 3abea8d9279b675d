#!/usr/bin/env python3
"""Start-up of local commands against a bare interpreter start, and kubectl for comparison.

    python benchmarks/startup.py [--runs 21] [--write-results]

Each round runs `python -c pass` and then the command (A B A B ...), so both see the same load
on the machine; the figure is the median of the paired differences, with their min-max.
`kubectl version --client` (a real kubectl from the test wheels) is measured the same way
against `true`, as the thing a kubectl user compares with. Goal: within 100 ms of `python -c pass`.

kubeferry's bytecode is compiled first, as `pip install` leaves it: without `__pycache__` (a
source checkout run with PYTHONDONTWRITEBYTECODE=1) every start compiles the modules it imports,
which adds 13-19 ms and would make the figure depend on what ran before.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import compile_bytecode, replace_section  # noqa: E402

MARKER = "## Start-up: local commands vs `python -c pass`"
COMMANDS = (
    ("--help",),
    ("--version",),
    ("version",),
    ("versions",),
    ("cache", "list"),
    ("doctor", "--quick"),
    ("kubectl", "list"),
)
GOAL_MS = 100.0


def elapsed(argv: list[str], env: dict[str, str]) -> float:
    """Milliseconds from spawn to exit."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - start) * 1000


def paired(base: list[str], command: list[str], env: dict[str, str], runs: int) -> dict:
    """Median and min-max of (command - base) over interleaved runs."""
    elapsed(base, env), elapsed(command, env)  # warm the page cache
    differences, alone = [], []
    for _ in range(runs):
        first = elapsed(base, env)
        second = elapsed(command, env)
        differences.append(second - first)
        alone.append(second)
    return {
        "median": statistics.median(differences),
        "min": min(differences),
        "max": max(differences),
        "alone": statistics.median(alone),
    }


def kubectl_binary() -> Path | None:
    """A real kubectl (tests/support/kubectl_binaries.py), or None when it cannot be had."""
    try:
        from tests.support import kubectl_binaries

        return kubectl_binaries.ensure("1.31.9")
    except Exception as exc:  # a benchmark without kubectl still reports kubeferry
        print(f"no kubectl for comparison: {exc}", file=sys.stderr)
        return None


def main() -> int:
    """Run, print, and optionally write the section of benchmarks/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeferry-startup-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBEFERRY_", "KUBERLR_"))}
        env.update(HOME=home, KUBEFERRY_OFFLINE="1")
        base = [sys.executable, "-c", "pass"]
        compile_bytecode(env)
        rows = []
        for command in COMMANDS:
            result = paired(base, [sys.executable, "-m", "kubeferry", *command], env, args.runs)
            rows.append((f"`kubeferry {' '.join(command)}`", result))
            print(f"kubeferry {' '.join(command)}: +{result['median']:.1f} ms", flush=True)
        kubectl = kubectl_binary()
        if kubectl:
            result = paired(["true"], [str(kubectl), "version", "--client"], env, args.runs)
            rows.append(("`kubectl version --client` (vs `true`)", result))
            print(f"kubectl version --client: +{result['median']:.1f} ms", flush=True)
        pass_ms = statistics.median(elapsed(base, env) for _ in range(args.runs))
    lines = [
        MARKER,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}, `python benchmarks/startup.py --runs {args.runs}`: each "
        "round runs `python -c pass` then the command (interleaved); the figure is the median "
        f"of the paired differences. `python -c pass` alone: {pass_ms:.1f} ms (median). The "
        "cache is empty, KUBEFERRY_OFFLINE=1, and kubeferry's bytecode is compiled first (as "
        "`pip install` leaves it).",
        "",
        "| command | over `python -c pass` (median) | min-max | command alone (median) | goal |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows:
        goal = "" if name.startswith("`kubectl") else f"<= {GOAL_MS:.0f} ms"
        lines.append(
            f"| {name} | {r['median']:.1f} ms | {r['min']:.1f}-{r['max']:.1f} ms "
            f"| {r['alone']:.1f} ms | {goal} |"
        )
    lines += [
        "",
        "Local commands import neither httpx, rich nor PyYAML, nor the download modules, "
        "hashlib, shutil, tempfile or importlib.resources (tests/integration/"
        "test_startup_imports.py checks it), and `--help` loads no settings. What remains is "
        "click (~15 ms with typing, inspect, uuid and datetime), `python -m`'s runpy (~3 ms), "
        "pathlib, kubeferry's frozen dataclasses (about 0.5 ms each) and the command's work.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write_results:
        replace_section(MARKER, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
