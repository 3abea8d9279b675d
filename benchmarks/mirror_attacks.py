#!/usr/bin/env python3
"""Issue 22's attacks replayed against a running `kubeferry mirror serve`, with counts.

    python benchmarks/mirror_attacks.py [--size-mb 300] [--swap-requests 50000]
        [--downloads 100] [--idle 1100] [--idle-seconds 30] [--write-results]

1. Folder swap: `k3s/<tag>` exchanged with a sibling whose same-named file is a link to a file
   outside the bundle, by renameat2(RENAME_EXCHANGE) in a loop (another process), during
   --swap-requests GETs of that file (8 keep-alive clients). Goal: 0 bytes from outside.
2. In place: --downloads downloads of a --size-mb file (one starting every 0.1 s, each paced to
   about 8 s, each hashing what it receives) while one byte is flipped in place (same size, mtime
   set back) 3 s in and then every second. Goal: 0 complete 200/206 answers with wrong bytes.
3. Idle: the mirror restarted under `ulimit -n 1024`; --idle connections held open (half send
   part of a header, half nothing; reopened when closed) for --idle-seconds while a normal
   client asks every 0.5 s. Goal: every normal request answered in < 1 s; stderr < 1 MB.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from results import replace_section
from tests.support import attacks
from tests.support.mirror import MirrorProcess

MARKER = "## Mirror under attack"


def environment(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent / "src")
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--swap-requests", type=int, default=50_000)
    parser.add_argument("--downloads", type=int, default=100)
    parser.add_argument("--idle", type=int, default=1100)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--write-results", action="store_true")
    options = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the attacker needs > 1,100
    work = Path(tempfile.mkdtemp(prefix="kubeferry-attacks-"))
    try:
        bundle = work / "bundle"
        attacks.attack_bundle(bundle, options.size_mb)
        rows = run(bundle, work, options)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, options)


def run(bundle: Path, work: Path, options: argparse.Namespace) -> dict[str, object]:
    rows: dict[str, object] = {}
    with MirrorProcess(environment(work / "home"), bundle) as mirror:
        host, port = mirror.base.removeprefix("http://").rsplit(":", 1)
        began = time.monotonic()
        swap = attacks.swap_attack(
            host, int(port), bundle, work / "outside", options.swap_requests, clients=8
        )
        rows["swap"] = (swap, time.monotonic() - began)
        print("swap:", rows["swap"], flush=True)
        began = time.monotonic()
        big = bundle / "k3s" / attacks.TAG / attacks.BIG
        in_place = attacks.in_place_attack(
            host,
            int(port),
            f"{attacks.DOWNLOAD}/{attacks.BIG}",
            big,
            options.downloads,
            seconds_each=8.0,
            first_change=3.0,
            every=1.0,
            stagger=0.1,
        )
        rows["in_place"] = (in_place, time.monotonic() - began)
        print("in place:", rows["in_place"], flush=True)
        mirror.stop()
        rows["stderr_1"] = len(mirror.stderr.encode())
        rows["tracebacks_1"] = mirror.stderr.count("Traceback")
    with MirrorProcess(environment(work / "home"), bundle, open_files=1024) as mirror:
        host, port = mirror.base.removeprefix("http://").rsplit(":", 1)
        idle = attacks.idle_attack(host, int(port), options.idle, options.idle_seconds)
        mirror.stop()
        rows["idle"] = idle
        rows["stderr_2"] = len(mirror.stderr.encode())
        rows["tracebacks_2"] = mirror.stderr.count("Traceback")
        print("idle:", idle, "stderr bytes:", rows["stderr_2"], flush=True)
    return rows


def report(rows: dict[str, object], options: argparse.Namespace) -> None:
    swap, swap_seconds = rows["swap"]  # type: ignore[misc]
    in_place, in_place_seconds = rows["in_place"]  # type: ignore[misc]
    idle = rows["idle"]
    assert isinstance(swap, attacks.SwapReport) and isinstance(in_place, attacks.InPlaceReport)
    assert isinstance(idle, attacks.IdleReport)
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(swap.statuses.items()))
    section = f"""{MARKER} (`python benchmarks/mirror_attacks.py --write-results`)

Measured {datetime.now(tz=UTC):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, against `kubeferry mirror serve` as a child process on loopback.

| attack | what was done | result | goal |
|---|---|---|---|
| folder swap | {swap.requests:,} GETs (8 keep-alive clients, {swap_seconds:.0f} s) while `k3s/<tag>` was exchanged with a sibling whose file is a link outside, by `renameat2(RENAME_EXCHANGE)` in a loop | **{swap.outside_bytes} bytes from outside**; {swap.verified_bodies:,} verified bodies, {swap.other_bodies} other bodies; statuses {statuses} | 0 bytes from outside |
| in-place change | {in_place.downloads} downloads of a {options.size_mb} MB file (one every 0.1 s, paced to ~8 s, {in_place_seconds:.0f} s in all); one byte flipped in place (same size, mtime set back) 3 s in, then every second: {in_place.changes} changes | **{in_place.complete_wrong} complete answers with wrong bytes**; {in_place.complete_right} complete and right, {in_place.refused} refused (503), {in_place.cut} cut | 0 wrong |
| idle connections | `ulimit -n 1024`; {idle.connections:,} connections held for {options.idle_seconds:.0f} s (half part of a header, half nothing; {idle.opened:,} opened in all, {idle.closed_by_server:,} closed by the mirror and reopened) | normal requests: {idle.probes} asked, {idle.probe_retries} retried once, {idle.probe_failures} failed twice, slowest **{idle.slowest_probe:.3f} s**; mirror stderr {rows["stderr_2"]:,} bytes, {rows["tracebacks_2"]} tracebacks | < 1 s; stderr < 1 MB |

Mirror stderr during the first two attacks (access log included): {rows["stderr_1"]:,} bytes, {rows["tracebacks_1"]} tracebacks.
The swap's 503s are the moments the linked sibling was in place (the link is refused; the refusal
is logged once per 10 s). The in-place downloads that began before a change finish with the
verified copy's bytes; those that begin while the file differs from its manifest get 503, and
after the byte is flipped back (a new ctime) the file is checked and copied again.
Past the connection cap (the open-files limit minus a reserve: 891 connections under
`ulimit -n 1024`) each new connection closes the one idle the longest, so the attacker's
reopened connections churn through; the normal client sends its request at once, is busy
rather than idle, and is answered. Without reopening, the held connections would simply be
closed by the 10 s header deadline.
"""
    print(section)
    if options.write_results:
        replace_section(MARKER, section)


if __name__ == "__main__":
    main()
