"""Small images archives shaped like k3s airgap archives: docker save and OCI layout.

Images are named like the real ones (`docker.io/rancher/mirrored-pause:3.6`), two share a base
layer, layers are incompressible uncompressed tars. `.tar.zst` variants are zstd-compressed.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

import zstandard

IMAGE_NAMES = (
    "docker.io/rancher/mirrored-pause:3.6",
    "docker.io/rancher/mirrored-coredns-coredns:1.12.0",
    "docker.io/rancher/klipper-helm:v0.9.3-build20241008",
)


@dataclass(frozen=True)
class ArchivedImage:
    """What an archive holds for one image: name, config digest, layer digests."""

    name: str
    config_digest: str
    layer_digests: tuple[str, ...]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 0
    archive.addfile(info, io.BytesIO(data))


def layer_tar(seed: str, size: int) -> bytes:
    """An uncompressed layer tar holding `size` incompressible bytes."""
    payload = random.Random(seed).randbytes(size)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as layer:
        _add(layer, f"data/{seed.replace(':', '_').replace('/', '_')}.bin", payload)
    return out.getvalue()


def _images(layer_size: int) -> list[tuple[str, bytes, list[bytes]]]:
    base = layer_tar("base", layer_size)
    result = []
    for index, name in enumerate(IMAGE_NAMES):
        own = [layer_tar(f"{name}/{n}", layer_size // (n + 1)) for n in range(index + 1)]
        layers = ([base] if index < 2 else []) + own
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"n": name}},
                "rootfs": {"type": "layers", "diff_ids": [_digest(x) for x in layers]},
            },
            sort_keys=True,
        ).encode()
        result.append((name, config, layers))
    return result


def _write(path: Path, members: list[tuple[str, bytes]]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members:
            _add(archive, name, data)
    data = buffer.getvalue()
    if path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor(level=1).compress(data)
    path.write_bytes(data)


def docker_save_archive(path: Path, layer_size: int = 300_000) -> list[ArchivedImage]:
    """A docker-save archive (legacy `<id>/layer.tar` names; manifest.json written last)."""
    members: list[tuple[str, bytes]] = []
    entries, described = [], []
    seen: set[str] = set()
    for name, config, layers in _images(layer_size):
        layer_names = []
        for layer in layers:
            legacy_id = hashlib.sha256(b"v1" + layer).hexdigest()  # not the digest, as in docker
            if legacy_id not in seen:
                seen.add(legacy_id)
                members += [(f"{legacy_id}/VERSION", b"1.0"), (f"{legacy_id}/layer.tar", layer)]
            layer_names.append(f"{legacy_id}/layer.tar")
        config_name = _digest(config)[7:] + ".json"
        members.append((config_name, config))
        entries.append({"Config": config_name, "RepoTags": [name], "Layers": layer_names})
        described.append(ArchivedImage(name, _digest(config), tuple(_digest(x) for x in layers)))
    members.append(("manifest.json", json.dumps(entries).encode()))
    _write(path, members)
    return described


def oci_layout_archive(path: Path, layer_size: int = 300_000) -> list[ArchivedImage]:
    """An OCI image layout archive (index.json last), uncompressed layers."""
    blobs: dict[str, bytes] = {}
    index, described = [], []
    for name, config, layers in _images(layer_size):
        for data in (config, *layers):
            blobs[_digest(data)] = data
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": _digest(x),
                        "size": len(x),
                    }
                    for x in layers
                ],
            }
        ).encode()
        blobs[_digest(manifest)] = manifest
        index.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _digest(manifest),
                "size": len(manifest),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                },
            }
        )
        described.append(ArchivedImage(name, _digest(config), tuple(_digest(x) for x in layers)))
    members = [(f"blobs/sha256/{d[7:]}", data) for d, data in blobs.items()]
    members.append(("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'))
    members.append(("index.json", json.dumps({"schemaVersion": 2, "manifests": index}).encode()))
    _write(path, members)
    return described
