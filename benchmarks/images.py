#!/usr/bin/env python3
"""Workload images: collecting into a bundle vs skopeo, and serving from the mirror vs Distribution.

    python benchmarks/images.py [--layers 4] [--layer-mb 40] [--rounds 6] [--write-results]

One image (gzip layers of incompressible bytes, like real ones) is pushed by skopeo into a CNCF
Distribution registry standing in for docker.io (plain HTTP, loopback). Then, interleaved
and counterbalanced (A B, B A, A B, ...; one warm-up pair not counted; each output removed and
the disk flushed after its run, untimed):

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
import hashlib
import io
import json
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

from benchmarks.results import (  # noqa: E402
    compile_bytecode,
    ratio_summary,
    replace_section,
)

MARKER = "## Workload images: collect and serve"
IMAGE = "docker.io/library/bench:1"


def build_image(folder: Path, layers: int, layer_mb: int, number: int = 0) -> BuiltImage:
    """An OCI layout with `layers` gzip layers of `layer_mb` MB of random bytes each; image
    `number` of a set shares its first (base) layer with the others, the rest are its own."""
    layout = _Layout(folder)
    descriptors, diff_ids = [], []
    for index in range(layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as archive:
            seed = index if index == 0 else number * 1000 + index
            data = random.Random(seed).randbytes(layer_mb * 1024 * 1024)
            info = tarfile.TarInfo(f"data/{seed}.bin")
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


def kubeferry_collect(
    target: Path, registry_url: str, env: dict[str, str], images: tuple[str, ...] = (IMAGE,)
) -> float:
    command = [
        sys.executable, "-m", "kubeferry", "--quiet", "bundle", "create", str(target),
        "--k3s", "none", "--kubectl", "none", *[a for i in images for a in ("--image", i)],
        "--source-endpoint", f"docker.io={registry_url}",
    ]  # fmt: skip
    return timed(command, env)


def skopeo_copy(source: str, target: Path, env: dict[str, str], tag: str = "bench") -> float:
    command = ["skopeo", "copy", "-q", "--src-tls-verify=false", source, f"oci:{target}:{tag}"]
    return timed(command, env)


def skopeo_script(host: str, names: list[str], target: Path, env: dict[str, str]) -> float:
    """What a skopeo script does for a set: one `skopeo copy` per image into one OCI layout
    (skopeo skips a blob the layout already holds, so the shared base is fetched once)."""
    return sum(skopeo_copy(f"docker://{host}/library/{n}:1", target, env, n) for n in names)


def skopeo_fleet(source: str, target: Path, env: dict[str, str], clients: int) -> float:
    """`clients` `skopeo copy` of one image at once (nodes pulling together); until all end."""
    target.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    running = [
        subprocess.Popen(
            ["skopeo", "copy", "-q", "--src-tls-verify=false", source, f"oci:{target}/{n}:b"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for n in range(clients)
    ]
    codes = [process.wait() for process in running]  # every one ended before the folder goes
    if any(codes):
        raise RuntimeError(f"a skopeo copy from {source} failed")
    return time.perf_counter() - began


def settled(run, target: Path) -> float:
    """One timed run, then its output removed and the disk flushed, outside the timing.

    The next run starts from the same quiet disk whoever ran before it: this machine's file
    system discards deleted blocks and writes back lazily, and a run that followed another's
    deletion was measured up to 0.3 s slower than the same run following its own kind.
    """
    seconds = run(target)
    shutil.rmtree(target, ignore_errors=True)
    os.sync()
    return seconds


def pairs(first, second, rounds: int, work: Path) -> dict[str, float]:
    """Counterbalanced rounds: A B, then B A, ... (one warm-up pair); ratio = B's time / A's."""
    ratios, a_times, b_times = [], [], []
    work.mkdir(parents=True, exist_ok=True)
    for index in range(rounds + 1):
        a_dir, b_dir = work / f"a{index}", work / f"b{index}"
        if index % 2:
            b = settled(second, b_dir)
            a = settled(first, a_dir)
        else:
            a = settled(first, a_dir)
            b = settled(second, b_dir)
        if index:
            a_times.append(a)
            b_times.append(b)
            ratios.append(b / a)
    return {
        "a_s": statistics.median(a_times),
        "b_s": statistics.median(b_times),
        **ratio_summary(ratios),
    }


def curl_layers(base: str, layers: list[str], env: dict[str, str]) -> float:
    """The image's layers by parallel `curl -o /dev/null` (no skopeo): the servers' own pace."""
    began = time.perf_counter()
    running = [
        subprocess.Popen(
            ["curl", "-sf", "-o", "/dev/null", f"{base}/v2/library/bench/blobs/{layer}"], env=env
        )
        for layer in layers
    ]
    if any([process.wait() for process in running]):
        raise RuntimeError(f"a curl of a layer from {base} failed")
    return time.perf_counter() - began


def layer_digests(image: BuiltImage) -> list[str]:
    manifest = image.layout / "blobs" / "sha256" / image.digest.removeprefix("sha256:")
    return [layer["digest"] for layer in json.loads(manifest.read_bytes())["layers"]]


def row(what: str, result: dict[str, float], goal: str = ">= 1.0x") -> str:
    return (
        f"| {what} | {result['a_s']:.2f} s | {result['b_s']:.2f} s | {result['ratio']:.2f}x "
        f"({result['min']:.2f}-{result['max']:.2f}) | {goal} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mb", type=int, default=40)
    parser.add_argument("--set", type=int, default=4, help="images in the set rows")
    parser.add_argument("--clients", type=int, default=4, help="skopeo clients at once")
    parser.add_argument("--rounds", type=int, default=6, help="rounded up to an even number")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    args.rounds += args.rounds % 2  # as many A B rounds as B A ones
    work = Path(tempfile.mkdtemp(prefix="kubeferry-bench-images-"))
    home = work / "home"
    home.mkdir()
    env = child_environment(home)
    compile_bytecode(env)
    registry = start_registry(work / "registry")
    names = [f"set{n}" for n in range(args.set)]
    try:
        image = build_image(work / "built", args.layers, args.layer_mb)
        push(image, f"{registry.host}/library/bench:1")
        for number, name in enumerate(names, start=1):
            member = build_image(work / name, 3, 20, number)
            push(member, f"{registry.host}/library/{name}:1")
        upstream = f"docker://{registry.host}/library/bench:1"
        collect = pairs(
            lambda d: kubeferry_collect(d, registry.url, env),
            lambda d: skopeo_copy(upstream, d, env),
            args.rounds,
            work / "collect",
        )
        members = tuple(f"docker.io/library/{name}:1" for name in names)
        collect_set = pairs(
            lambda d: kubeferry_collect(d, registry.url, env, members),
            lambda d: skopeo_script(registry.host, names, d, env),
            args.rounds,
            work / "collect-set",
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
            layers = layer_digests(image)
            sending = pairs(
                lambda d: curl_layers(mirror.base, layers, env),
                lambda d: curl_layers(registry.url, layers, env),
                args.rounds,
                work / "sending",
            )
            fleet = pairs(
                lambda d: skopeo_fleet(served, d, env, args.clients),
                lambda d: skopeo_fleet(upstream, d, env, args.clients),
                args.rounds,
                work / "fleet",
            )
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    size = args.layers * args.layer_mb
    set_size = 20 + args.set * 40
    section = f"""{MARKER} (`python benchmarks/images.py --write-results`)

Measured {date.today()} on {os.cpu_count()} cores, Python {platform.python_version()}, loopback,
CNCF Distribution 2.8 (plain HTTP), skopeo 1.9. One image of {args.layers} gzip layers,
{size} MB in all; a set of {args.set} images of three 20 MB layers sharing the first ({set_size}
MB to fetch). {args.rounds} rounds after one warm-up pair, counterbalanced (A B, then B A, ...),
each output removed and the disk flushed after its run, untimed; median of the per-round ratios
with min-max (above 1: kubeferry is faster).

| what | kubeferry | other | ratio (min-max) | goal |
|---|---|---|---|---|
{row("collect: `bundle create --image` vs `skopeo copy docker://… oci:DIR`", collect)}
{row(f"collect a set: one `bundle create` with {args.set} `--image` vs a `skopeo copy` per image into one layout", collect_set)}
{row("serve: `skopeo copy` from `mirror serve` /v2/ vs from Distribution", serve)}
{row(f"serve, no skopeo: the {args.layers} layers by {args.layers} parallel `curl -o /dev/null`", sending, "")}
{row(f"serve a fleet: {args.clients} `skopeo copy` at once from `mirror serve` vs from Distribution", fleet, "")}

kubeferry's time includes starting Python and its imports (a Go binary starts in a few ms)
and the bundle manifest; `bundle create` fetches the blobs in parallel through the download
engine (small ones first, then the largest first), hashing while they arrive, and syncs each
to disk before naming it (skopeo syncs its blobs too). The set row compares one `bundle
create`, which fetches the blobs of all the images in parallel, with a script running one
`skopeo copy` after another (the usual loop over an images list). The mirror had verified
every blob once before the timed rounds (it hashes a file again only when it changes). CPU
time of the servers over the single-client serve rounds (warm-up included): `mirror serve`
{mirror_cpu.total:.2f} s, Distribution {registry_cpu.total:.2f} s. The no-skopeo row times the
servers' own sending: compare it with the single-client serve row to see whose pace that is.
"""
    print(section)
    if args.write_results:
        replace_section(MARKER, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
