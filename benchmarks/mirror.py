#!/usr/bin/env python3
"""`kubeferry mirror serve` vs nginx serving `mirror export` of the same bundle, side by side.

    python benchmarks/mirror.py [--size-mb 200] [--clients 20] [--rounds 6] [--write-results]

A bundle with one --size-mb images file (random bytes) is served by `mirror serve` and, exported,
by nginx (`sendfile on`, the Debian default `worker_processes auto`, its own config on a free
loopback port). Each round starts --clients `curl -o /dev/null` processes at once against one
server and times until the last finishes: aggregate throughput = clients x size / wall time.
Rounds alternate (mirror, nginx, mirror, nginx, ...); the result is the median of the per-round
ratios mirror/nginx and their min-max.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from results import replace_section
from tests.support.nginx import Nginx

MB = 1024 * 1024
TAG = "v1.32.3+k3s1"
ASSET = "k3s-airgap-images-amd64.tar.zst"
MARKER = "## Mirror: `mirror serve` vs nginx"


def make_bundle(folder: Path, size_mb: int) -> None:
    """A bundle whose manifest lists one images file of `size_mb` random bytes."""
    target = folder / "k3s" / TAG / ASSET
    target.parent.mkdir(parents=True)
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for _ in range(size_mb):
            chunk = os.urandom(MB)
            digest.update(chunk)
            out.write(chunk)
    manifest = {
        "kind": "kubeferry-bundle",
        "format": 1,
        "created": "2026-11-27T00:00:00Z",
        "tool": "benchmark",
        "targets": {},
        "files": [
            {
                "path": f"k3s/{TAG}/{ASSET}",
                "size": size_mb * MB,
                "sha256": digest.hexdigest(),
                "url": "",
            }
        ],
    }
    (folder / "kubeferry-bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")


def start_mirror(bundle: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "kubeferry", "mirror", "serve", str(bundle)),
            *("--listen", "127.0.0.1:0", "--access-log", os.devnull),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    base = process.stdout.readline().split("serving at ", 1)[1].strip().rstrip("/")
    return process, base


def round_seconds(url: str, clients: int) -> float:
    """Wall time for `clients` concurrent full downloads of `url`."""
    began = time.perf_counter()
    downloads = [subprocess.Popen(["curl", "-sf", "-o", os.devnull, url]) for _ in range(clients)]
    codes = [d.wait() for d in downloads]
    elapsed = time.perf_counter() - began
    assert codes == [0] * clients, codes
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--write-results", action="store_true")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kubeferry-mirror-bench-"))
    work.chmod(0o755)  # nginx's workers run as nobody
    mirror = None
    try:
        make_bundle(work / "bundle", options.size_mb)
        export = work / "tree"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "kubeferry",
                "mirror",
                "export",
                str(work / "bundle"),
                str(export),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        path = f"/github.com/k3s-io/k3s/releases/download/{TAG}/{ASSET}"
        mirror, base = start_mirror(work / "bundle")
        workers = "auto"
        with Nginx(export, work / "nginx", export / "nginx-kubeferry.conf", workers=workers) as web:
            for url in (base + path, web.url + path):  # warm: verification, page cache
                round_seconds(url, 1)
            pairs = []
            for number in range(options.rounds):
                # A B, then B A: neither side always runs first.
                if number % 2 == 0:
                    ours = round_seconds(base + path, options.clients)
                    theirs = round_seconds(web.url + path, options.clients)
                else:
                    theirs = round_seconds(web.url + path, options.clients)
                    ours = round_seconds(base + path, options.clients)
                pairs.append((ours, theirs))
        report(pairs, options)
    finally:
        if mirror is not None:
            mirror.terminate()
            mirror.wait()
        shutil.rmtree(work, ignore_errors=True)


def report(pairs: list[tuple[float, float]], options: argparse.Namespace) -> None:
    total_mb = options.clients * options.size_mb
    ratios = [theirs / ours for ours, theirs in pairs]  # throughput ratio mirror / nginx
    ours = statistics.median(total_mb / o for o, _ in pairs)
    theirs = statistics.median(total_mb / t for _, t in pairs)
    median = statistics.median(ratios)
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    section = f"""{MARKER} (`python benchmarks/mirror.py --write-results`)

Measured {datetime.now(tz=UTC):%Y-%m-%d} on {os.cpu_count()} cores, Python {platform.python_version()}, {nginx.removeprefix("nginx version: ")}, curl as the clients.
{options.clients} concurrent `curl -o /dev/null` of one {options.size_mb} MB file per round, {options.rounds} rounds each, interleaved (mirror, nginx, then nginx, mirror, ...).

| server | aggregate throughput (median) | ratio to nginx (median of paired rounds) | min-max | goal |
|---|---|---|---|---|
| `kubeferry mirror serve` (aiohttp, sendfile, one process) | {ours:.0f} MB/s | {median:.2f}x | {min(ratios):.2f}x-{max(ratios):.2f}x | >= 0.8x |
| nginx serving `mirror export` (sendfile, `worker_processes auto`) | {theirs:.0f} MB/s | 1.00x | | |

Both send with `sendfile` over loopback, so the work that remains is the 20 curl processes
reading and the servers' event loops; on two cores the clients take most of the CPU. The mirror
copies the file once, hashing it, into a private verified copy before it first serves it
(warm-up, not timed); per request it opens the bundle file from the bundle's folder descriptor
(no link followed), compares its fstat with the copy's, and sends from the copy in 1 MiB
`sendfile` calls (each with a 60 s send deadline). nginx keeps its defaults apart from `sendfile on` and `tcp_nopush on` (`sendfile_max_chunk` 2m). Over HTTPS (`--tls-cert`) the mirror
cannot use `sendfile`; that case is not measured.
"""
    print(section)
    if options.write_results:
        replace_section(MARKER, section)


if __name__ == "__main__":
    main()
