#!/usr/bin/env python3
"""`kubeferry images push` vs `skopeo copy docker-archive:… docker://…`, same archive.

    python benchmarks/images_push.py [--size-mb 240] [--pairs 5] [--write-results]

A docker-save archive shaped like k3s's (three images named like the real ones, a shared base
layer, uncompressed incompressible layers) is pushed into a fresh CNCF Distribution registry
(plain HTTP on loopback, storage in a temp folder) by each tool in turn, interleaved
(kubeferry, skopeo, kubeferry, skopeo, ...). skopeo copies one image per run, as a user would
script it: one `skopeo copy docker-archive:ARCHIVE:NAME docker://REGISTRY/PATH` per image. The
ratio of each pair is skopeo's time over kubeferry's (above 1: kubeferry is faster); the
median and the min-max of those ratios are reported. A second table pushes the `.tar.zst` of
the same images: kubeferry reads it directly, skopeo needs `zstd -d` first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import images as test_images  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402

from benchmarks.results import ratio_summary, replace_section  # noqa: E402

MARKER = "## Airgap images into a registry"


def timed(command: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def push_kubeferry(archive: Path, registry: str, env: dict[str, str]) -> float:
    command = [
        sys.executable,
        "-m",
        "kubeferry",
        "images",
        "push",
        str(archive),
        "--to",
        registry,
        "--plain-http",
        "--quiet",
    ]
    return timed(command, env)


def push_skopeo(archive: Path, registry: str, env: dict[str, str], zst: bool) -> float:
    began = time.perf_counter()
    source = archive
    if zst:
        source = archive.with_name("decompressed-for-skopeo.tar")
        subprocess.run(["zstd", "-d", "-q", "-f", str(archive), "-o", str(source)], check=True)
    for name in test_images.IMAGE_NAMES:
        target = f"docker://{registry}/{name.removeprefix('docker.io/')}"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "-q",
                "--dest-tls-verify=false",
                f"docker-archive:{source}:{name}",
                target,
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if zst:
        source.unlink()
    return time.perf_counter() - began


def measure(archive: Path, work: Path, pairs: int, env: dict[str, str], zst: bool) -> dict:
    ratios, kube, skop = [], [], []
    for index in range(pairs + 1):  # the first pair warms caches and is not counted
        one = start_registry(work / f"r{index}k")
        try:
            k = push_kubeferry(archive, one.host, env)
        finally:
            one.stop()
            shutil.rmtree(one.root)
        two = start_registry(work / f"r{index}s")
        try:
            s = push_skopeo(archive, two.host, env, zst)
        finally:
            two.stop()
            shutil.rmtree(two.root)
        if index:
            kube.append(k)
            skop.append(s)
            ratios.append(s / k)
    return {
        "kubeferry_s": statistics.median(kube),
        "skopeo_s": statistics.median(skop),
        **ratio_summary(ratios),
    }


def skopeo_layer_types(archive: Path, work: Path, env: dict[str, str]) -> list[str]:
    """The layer media types skopeo leaves in the registry (it gzips uncompressed layers)."""
    running = start_registry(work / "types")
    try:
        name = test_images.IMAGE_NAMES[0]
        target = f"{running.host}/{name.removeprefix('docker.io/')}"
        subprocess.run(
            [
                "skopeo",
                "copy",
                "-q",
                "--dest-tls-verify=false",
                f"docker-archive:{archive}:{name}",
                f"docker://{target}",
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{target}"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return sorted({layer["mediaType"] for layer in json.loads(raw)["layers"]})
    finally:
        running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=240)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory(prefix="kubeferry-images-bench-") as temporary:
        work = Path(temporary)
        layer = args.size_mb * 1024 * 1024 // 5  # five distinct layer sizes sum to about size-mb
        tar, zst = work / "k3s-airgap-images-amd64.tar", work / "k3s-airgap-images-amd64.tar.zst"
        test_images.docker_save_archive(tar, layer_size=layer)
        test_images.docker_save_archive(zst, layer_size=layer)
        size_mb = tar.stat().st_size / 1e6
        plain = measure(tar, work, args.pairs, env, zst=False)
        compressed = measure(zst, work, args.pairs, env, zst=True)
        types = skopeo_layer_types(tar, work, env)
    rows = []
    for label, result in (
        (f"`.tar` ({size_mb:.0f} MB)", plain),
        ("`.tar.zst` (skopeo after `zstd -d`)", compressed),
    ):
        rows.append(
            f"| {label} | {result['kubeferry_s']:.2f} s | {result['skopeo_s']:.2f} s | "
            f"{result['ratio']:.2f}x ({result['min']:.2f}-{result['max']:.2f}) | >= 1.0x |"
        )
        print(label, json.dumps(result))
    section = f"""{MARKER} (`python benchmarks/images_push.py --write-results`)

Measured {date.today().isoformat()} on {os.cpu_count()} cores, Python {platform.python_version()}, loopback, CNCF Distribution 2.8
(plain HTTP, fresh storage per run), {args.pairs} interleaved pairs after one warm-up pair; the
ratio is skopeo's time over kubeferry's per pair (above 1: kubeferry is faster), median and
min-max. Three images named like k3s's, one base layer shared by two of them.

| archive | kubeferry `images push` | skopeo 1.9 `copy docker-archive:` per image | ratio (min-max) | goal |
|---|---|---|---|---|
{chr(10).join(rows)}

skopeo pushes layers as {", ".join(types)}: it gzips the uncompressed layers of a docker-save
archive on the way (CPU time, and the registry's layer digests then differ from the archive's);
kubeferry pushes them as they are, so the digests match the archive and the images' config
`rootfs.diff_ids`. skopeo also reads the archive once per image (`docker-archive:PATH:NAME`);
kubeferry reads it once (twice for `.tar.zst`: a metadata pass, then the layers) and uploads
the shared base layer once, mounting it into the second repository.
"""
    print(section)
    if args.write_results:
        replace_section(MARKER, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
