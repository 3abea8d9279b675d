#!/usr/bin/env python3
"""One Python command, this checkout against an earlier revision, interleaved (A B, B A, ...).

    python benchmarks/ab.py REV [--rounds 15] -- -m kubeferry cache list
    python benchmarks/ab.py HEAD~1 -- -c "import kubeferry.cli, kubeferry.cli.bundle"

REV's `src/` is exported (`git archive`) into a temporary folder; each round runs
`python ARGS...` once with this checkout's `src/` first on PYTHONPATH and once with REV's, the
order alternating, in a private HOME with KUBEFERRY_OFFLINE=1 and bytecode compiled first. It
prints both medians and the median of the paired differences (REV - this checkout, ms) with its
min-max: how the RESULTS.md start-up A/B figures were taken. The exit status of the command is
not checked (an offline command that stops at its first network step is a fair start-up probe).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryFile() as stream:
        stream.write(archive)
        stream.seek(0)
        with tarfile.open(fileobj=stream) as tar:
            tar.extractall(into, filter="data")
    return into / "src"


def run_once(args: list[str], source: Path, home: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(source), "HOME": str(home), "KUBEFERRY_OFFLINE": "1"}
    began = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, capture_output=True, check=False)
    return (time.perf_counter() - began) * 1000


def main() -> int:
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("give the command after --, for example: -- -m kubeferry cache list")
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision")
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    if not command:
        parser.error("give the command after --, for example: -- -m kubeferry cache list")
    with tempfile.TemporaryDirectory(prefix="kubeferry-ab-") as temporary:
        work = Path(temporary)
        sources = {"this checkout": ROOT / "src", options.revision: export(options.revision, work)}
        for source in sources.values():
            compileall.compile_dir(source, quiet=1)
        home = work / "home"
        home.mkdir()
        times: dict[str, list[float]] = {name: [] for name in sources}
        names = list(sources)
        for _ in range(2):  # warm-up pair, not counted
            for name in names:
                run_once(command, sources[name], home)
        for index in range(options.rounds + options.rounds % 2):
            for name in names if index % 2 == 0 else names[::-1]:
                times[name].append(run_once(command, sources[name], home))
    ours, theirs = times[names[0]], times[names[1]]
    saved = [b - a for a, b in zip(ours, theirs, strict=True)]
    print(f"python {' '.join(command)}, {len(ours)} rounds")
    print(f"  this checkout: {statistics.median(ours):.1f} ms (median)")
    print(f"  {options.revision}: {statistics.median(theirs):.1f} ms (median)")
    print(
        f"  {options.revision} - this checkout: {statistics.median(saved):.1f} ms "
        f"(min {min(saved):.1f}, max {max(saved):.1f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
