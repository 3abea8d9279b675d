#!/usr/bin/env python3
"""Workload images: collecting into a bundle vs skopeo, and serving from the mirror vs Distribution.

    python benchmarks/images.py [--layers 4] [--layer-mb 40] [--rounds 5] [--write-results]

One image (gzip layers of incompressible bytes, like real ones) is pushed by skopeo into a CNCF
Distribution registry standing in for docker.io (plain HTTP, loopback). Then, interleaved
(A B A B ..., one warm-up pair not counted):

1. collect: `kubeferry bundle create DIR --image docker.io/library/bench:1 --source-endpoint
   docker.io=http://…` vs `skopeo copy docker://…/library/bench:1 oci:DIR:bench`, a fresh
   folder each time; ratio = skopeo's time / kubeferry's (above 1: kubeferry is faster).
2. serve: `skopeo copy docker://MIRROR/library/bench:1 oci:DIR` from `kubeferry mirror serve`
   (serving a bundle made from that registry) vs the same copy from Distribution; ratio =
   Distribution's time / the mirror's (above 1: the mirror is faster).
Median of the per-pair ratios with min-max.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import child_environment  # noqa: E402
from tests.support.mirror import MirrorProcess  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402
from tests.support.workload import BuiltImage, _Layout, push  # noqa: E402

from benchmarks.results import compile_bytecode, replace_section  # noqa: E402

MARKER = "## Workload images: collect and serve"
IMAGE = "docker.io/library/bench:1"


def build_image(folder: Path, layers: int, layer_mb: int) -> BuiltImage:
    """An OCI layout with `layers` gzip layers of `layer_mb` MB of random bytes each."""
    layout = _Layout(folder)
    import hashlib
    import json

    descriptors, diff_ids = [], []
    for number in range(layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as archive:
            data = random.Random(number).randbytes(layer_mb * 1024 * 1024)
            info = tarfile.TarInfo(f"data/{number}.bin")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        diff_ids.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
        layer = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layout.put(layer),
                "size": len(layer),
            }
        )
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": layout.put(config),
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    found = layout.put(manifest)
    layout.tag("1", "application/vnd.oci.image.manifest.v1+json", manifest)
    return BuiltImage(folder, "1", found, {"linux/amd64": found}, ())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds a server process spends while the wrapped command runs, summed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.total = 0.0

    def around(self, run):  # type: ignore[no-untyped-def]
        def measured(target: Path) -> float:
            before = cpu_seconds(self.pid)
            seconds = run(target)
            self.total += cpu_seconds(self.pid) - before
            return seconds

        return measured


def timed(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def kubeferry_collect(target: Path, registry_url: str, env: dict[str, str]) -> float:
    command = [
        sys.executable, "-m", "kubeferry", "--quiet", "bundle", "create", str(target),
        "--k3s", "none", "--kubectl", "none", "--image", IMAGE,
        "--source-endpoint", f"docker.io={registry_url}",
    ]  # fmt: skip
    return timed(command, env)


def skopeo_copy(source: str, target: Path, env: dict[str, str]) -> float:
    command = ["skopeo", "copy", "-q", "--src-tls-verify=false", source, f"oci:{target}:bench"]
    return timed(command, env)


def pairs(first, second, rounds: int, work: Path) -> dict[str, float]:
    """Interleaved A B rounds (one warm-up pair); ratio = B's time / A's."""
    ratios, a_times, b_times = [], [], []
    work.mkdir(parents=True, exist_ok=True)
    for index in range(rounds + 1):
        a_dir, b_dir = work / f"a{index}", work / f"b{index}"
        a = first(a_dir)
        b = second(b_dir)
        shutil.rmtree(a_dir, ignore_errors=True)
        shutil.rmtree(b_dir, ignore_errors=True)
        if index:
            a_times.append(a)
            b_times.append(b)
            ratios.append(b / a)
    return {
        "a_s": statistics.median(a_times),
        "b_s": statistics.median(b_times),
        "ratio": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mb", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kubeferry-bench-images-"))
    home = work / "home"
    home.mkdir()
    env = child_environment(home)
    compile_bytecode(env)
    registry = start_registry(work / "registry")
    try:
        image = build_image(work / "built", args.layers, args.layer_mb)
        push(image, f"{registry.host}/library/bench:1")
        upstream = f"docker://{registry.host}/library/bench:1"
        collect = pairs(
            lambda d: kubeferry_collect(d, registry.url, env),
            lambda d: skopeo_copy(upstream, d, env),
            args.rounds,
            work / "collect",
        )
        bundle = work / "bundle"
        kubeferry_collect(bundle, registry.url, env)
        with MirrorProcess(env, bundle, extra=("--access-log", str(work / "access.log"))) as mirror:
            served = f"docker://{mirror.base.removeprefix('http://')}/library/bench:1"
            skopeo_copy(served, work / "warm", env)  # the first request verifies every blob
            assert mirror.process is not None
            mirror_cpu, registry_cpu = CpuMeter(mirror.process.pid), CpuMeter(registry.process.pid)
            serve = pairs(
                mirror_cpu.around(lambda d: skopeo_copy(served, d, env)),
                registry_cpu.around(lambda d: skopeo_copy(upstream, d, env)),
                args.rounds,
                work / "serve",
            )
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    size = args.layers * args.layer_mb
    section = f"""{MARKER} (`python benchmarks/images.py --write-results`)

Measured {date.today()} on {os.cpu_count()} cores, Python {platform.python_version()}, loopback,
CNCF Distribution 2.8 (plain HTTP), skopeo 1.9. One image of {args.layers} gzip layers,
{size} MB in all; {args.rounds} interleaved pairs after one warm-up pair, median of the per-pair
ratios with min-max (above 1: kubeferry is faster).

| what | kubeferry | other | ratio (min-max) | goal |
|---|---|---|---|---|
| collect: `bundle create --image` vs `skopeo copy docker://… oci:DIR` | {collect["a_s"]:.2f} s | {collect["b_s"]:.2f} s | {collect["ratio"]:.2f}x ({collect["min"]:.2f}-{collect["max"]:.2f}) | >= 1.0x |
| serve: `skopeo copy` from `mirror serve` /v2/ vs from Distribution | {serve["a_s"]:.2f} s | {serve["b_s"]:.2f} s | {serve["ratio"]:.2f}x ({serve["min"]:.2f}-{serve["max"]:.2f}) | >= 1.0x |

kubeferry's time includes starting Python and the bundle manifest; `bundle create` fetches the
layers in parallel through the download engine, hashing while they arrive. The mirror had
verified every blob once before the timed rounds (it hashes a file again only when it changes).
CPU time of the servers over all serve rounds (warm-up included): `mirror serve`
{mirror_cpu.total:.2f} s, Distribution {registry_cpu.total:.2f} s (both send blobs with
`sendfile`; skopeo's own work dominates these copies).
"""
    print(section)
    if args.write_results:
        replace_section(MARKER, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
