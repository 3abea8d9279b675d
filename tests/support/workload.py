"""Real workload images built without a builder: busybox-static in one layer, and a multi-arch
index; pushed into a real Distribution with skopeo (it keeps the digests: `--preserve-digests`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

GREETING = "hello from kubeferry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"


def busybox_path() -> Path | None:
    """The static busybox binary (busybox-static), when installed."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BuiltImage:
    """An image in an OCI layout folder: its top digest, and per platform its manifest digest."""

    layout: Path
    tag: str
    digest: str
    platforms: dict[str, str]
    layers: tuple[str, ...]


def _layer(files: dict[str, tuple[bytes, int]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, (data, mode) in files.items():
            folder = name.rsplit("/", 1)[0]
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _uncompressed_digest(layer: bytes) -> str:
    return digest(gzip.decompress(layer))


class _Layout:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def put(self, data: bytes) -> str:
        found = digest(data)
        (self.folder / "blobs" / "sha256" / found[7:]).write_bytes(data)
        return found

    def image(self, layer: bytes, arch: str, cmd: list[str]) -> tuple[bytes, str]:
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
                "rootfs": {"type": "layers", "diff_ids": [_uncompressed_digest(layer)]},
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": CONFIG, "digest": self.put(config), "size": len(config)},
                "layers": [
                    {"mediaType": LAYER_GZIP, "digest": self.put(layer), "size": len(layer)}
                ],
            }
        ).encode()
        return manifest, self.put(manifest)

    def tag(self, tag: str, media_type: str, body: bytes) -> None:
        entry = {
            "mediaType": media_type,
            "digest": digest(body),
            "size": len(body),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
        (self.folder / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "manifests": [entry]})
        )


def busybox_image(folder: Path, tag: str = "1") -> BuiltImage:
    """One layer holding bin/busybox (from busybox-static); Cmd prints GREETING."""
    source = busybox_path()
    assert source is not None, "busybox-static is not installed"
    layout = _Layout(folder)
    layer = _layer({"bin/busybox": (source.read_bytes(), 0o755)})
    manifest, found = layout.image(layer, "amd64", ["/bin/busybox", "echo", GREETING])
    layout.tag(tag, OCI_MANIFEST, manifest)
    return BuiltImage(folder, tag, found, {"linux/amd64": found}, (digest(layer),))


def multiarch_image(folder: Path, tag: str = "1", size: int = 200_000) -> BuiltImage:
    """An index of linux/amd64, linux/arm64 and linux/arm/v7, each with its own random layer."""
    layout = _Layout(folder)
    children, platforms, layers = [], {}, []
    for arch, variant in (("amd64", ""), ("arm64", ""), ("arm", "v7")):
        payload = random.Random(arch + variant).randbytes(size)
        layer = _layer({f"data/{arch}.bin": (payload, 0o644)})
        layers.append(digest(layer))
        manifest, found = layout.image(layer, arch, ["/bin/true"])
        platform = {
            "os": "linux",
            "architecture": arch,
            **({"variant": variant} if variant else {}),
        }
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": found,
                "size": len(manifest),
                "platform": platform,
            }
        )
        platforms["/".join(["linux", arch, *([variant] if variant else [])])] = found
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
    top = layout.put(index)
    layout.tag(tag, OCI_INDEX, index)
    return BuiltImage(folder, tag, top, platforms, tuple(layers))


def skopeo(*args: str) -> str:
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"skopeo {' '.join(args)}: {done.stderr}"
    return done.stdout


def push(image: BuiltImage, destination: str) -> None:
    """`skopeo copy --all --preserve-digests oci:LAYOUT:TAG docker://DESTINATION` (plain http)."""
    skopeo(
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        f"oci:{image.layout}:{image.tag}",
        f"docker://{destination}",
    )


def have_skopeo() -> bool:
    return shutil.which("skopeo") is not None


def busybox_docker_archive(path: Path, name: str) -> str:
    """A docker-save archive (`.tar` or `.tar.zst`, like k3s's airgap archives) with one
    busybox image named `name` whose Cmd prints GREETING; the layer's digest."""
    import zstandard

    source = busybox_path()
    assert source is not None, "busybox-static is not installed"
    layer = gzip.decompress(_layer({"bin/busybox": (source.read_bytes(), 0o755)}))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Cmd": ["/bin/busybox", "echo", f"{GREETING} (airgap)"],
                "Env": ["PATH=/bin"],
            },
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        }
    ).encode()
    members = [
        (f"{digest(config)[7:]}.json", config),
        (f"{digest(layer)[7:]}/layer.tar", layer),
    ]
    manifest = [{"Config": members[0][0], "RepoTags": [name], "Layers": [members[1][0]]}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for member, data in members:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    data = out.getvalue()
    if path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor(level=1).compress(data)
    path.write_bytes(data)
    return digest(layer)


def random_image(folder: Path, tag: str, size: int) -> BuiltImage:
    """One gzip layer of `size` incompressible bytes (for resume and interrupt tests)."""
    layout = _Layout(folder)
    layer = _layer({"data/blob.bin": (random.Random(size).randbytes(size), 0o644)})
    manifest, found = layout.image(layer, "amd64", ["/bin/true"])
    layout.tag(tag, OCI_MANIFEST, manifest)
    return BuiltImage(folder, tag, found, {"linux/amd64": found}, (digest(layer),))
