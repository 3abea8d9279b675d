#!/usr/bin/env python3
"""The kubectl wrapper's overhead: `kubectl version --client` directly vs through the wrapper.

    python benchmarks/wrapper.py [--runs 30] [--write-results]

Warm: the version cache holds the cluster's answer (the normal case). Cold: the cache is off
(KUBEFERRY_VERSION_CACHE_TTL=0), so every call parses the kubeconfig and asks a local TLS
`/version` server with a client certificate. Real kubectl 1.33.9; medians over --runs runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import kubectl_binaries  # noqa: E402
from tests.support.apiserver import ApiServer, cert_user, kubeconfig, make_pki  # noqa: E402

from benchmarks.results import replace_section  # noqa: E402


def median_ms(command: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)  # warm caches
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    real = kubectl_binaries.ensure("1.33.9")
    with tempfile.TemporaryDirectory(prefix="kubeferry-wrapper-bench-") as temporary:
        work = Path(temporary)
        home, bin_dir = work / "home", work / "bin"
        local = home / ".kuberlr" / "linux-amd64"
        local.mkdir(parents=True)
        (local / "kubectl1.33.9").symlink_to(real)
        pki = make_pki(work / "pki")
        env = {
            **os.environ,
            "HOME": str(home),
            "KUBERLR_SYSTEMPATH": str(work / "none"),
            "KUBECONFIG": str(home / ".kube" / "config"),
        }
        env.pop("XDG_CACHE_HOME", None)
        subprocess.run(
            [sys.executable, "-m", "kubeferry", "shim", "install", "--dir", str(bin_dir), "-q"],
            env=env,
            check=True,
        )
        with ApiServer(pki, "v1.33.2+k3s1") as api:
            kubeconfig(home / ".kube" / "config", {"k": (api.url, cert_user(pki))}, pki, "k")
            direct = median_ms([str(real), "version", "--client"], env, args.runs)
            wrapped = [str(bin_dir / "kubectl"), "version", "--client"]
            warm = median_ms(wrapped, env, args.runs)
            cold = median_ms(wrapped, {**env, "KUBEFERRY_VERSION_CACHE_TTL": "0"}, args.runs)
    result = {
        "direct_ms": direct,
        "warm_ms": warm,
        "cold_ms": cold,
        "warm_overhead_ms": warm - direct,
        "cold_overhead_ms": cold - direct,
    }
    print(result)
    if args.write_results:
        write_results(result, args.runs)
    return 0


def write_results(r: dict[str, float], runs: int) -> None:
    section = f"""## kubectl wrapper (`python benchmarks/wrapper.py --write-results`)

Measured {time.strftime("%Y-%m-%d")} on {os.cpu_count()} cores, Python {sys.version.split()[0]}, real kubectl 1.33.9, median of {runs} runs each.

| `kubectl version --client` | median | overhead over direct | goal |
|---|---|---|---|
| kubectl run directly | {r["direct_ms"]:.1f} ms | | |
| through the wrapper, warm (version cache hit) | {r["warm_ms"]:.1f} ms | {r["warm_overhead_ms"]:.1f} ms | <= 15 ms |
| through the wrapper, cold (kubeconfig + TLS `/version` every call) | {r["cold_ms"]:.1f} ms | {r["cold_overhead_ms"]:.1f} ms | <= 60 ms |

The wrapper is started by the launcher `kubeferry shim install` writes (`python -S`, no site
processing); through pip's `kubeferry-kubectl` console script, site processing adds the cost of
every `.pth` file installed. Of the warm overhead, about 11 ms is the Python interpreter starting
(`python -S -c pass`); the wrapper's own work (two small files read, one folder listed) is the
rest. The cold figure includes the local test API server (Python's TLS server, in the benchmark's
process) doing its side of the handshake with a client certificate; it is paid once per cluster
per TTL (60 s by default).
"""
    replace_section("## kubectl wrapper", section)


if __name__ == "__main__":
    sys.exit(main())
