"""k3s release files made for tests: a binary, docker-archive image tarballs and sums files.

No k3s build can be fetched here, so the tests make release assets of the same shape: the
images archive is a real docker-archive (`manifest.json`, config JSON, layer tar), compressed
with zstd for `.tar.zst`, and `sha256sum-<arch>.txt` is real `sha256sum` output.
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

from kubeferry.core.platforms import K3sAssets
from tests.support.install_script import script_path, stand_in_install_script


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data))


def docker_archive(tag: str, arch: str, payload_size: int) -> bytes:
    """A docker-archive tarball with one image whose layer holds `payload_size` bytes."""
    seed = hashlib.sha256(f"{tag}/{arch}".encode()).digest()
    payload = random.Random(seed).randbytes(payload_size)  # incompressible, like real layers
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer:
        _add(layer, "payload.bin", payload)
    layer_bytes = layer_buffer.getvalue()
    layer_digest = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        }
    )
    config_name = hashlib.sha256(config.encode()).hexdigest() + ".json"
    manifest = json.dumps(
        [
            {
                "Config": config_name,
                "RepoTags": [f"rancher/k3s-test:{tag}"],
                "Layers": [f"{layer_digest}/layer.tar"],
            }
        ]
    )
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        _add(archive, "manifest.json", manifest.encode())
        _add(archive, config_name, config.encode())
        _add(archive, f"{layer_digest}/layer.tar", layer_bytes)
    return out.getvalue()


@dataclass(frozen=True)
class ReleaseFiles:
    """One tag's assets for one arch: name -> bytes."""

    tag: str
    arch: str
    files: dict[str, bytes]

    @property
    def assets(self) -> K3sAssets:
        return K3sAssets(self.arch)


def release_files(
    tag: str,
    arch: str = "amd64",
    *,
    images_size: int = 200_000,
    with_zst: bool = True,
    with_tar: bool = True,
) -> ReleaseFiles:
    """Binary, images (.tar and/or .tar.zst) and the sums file listing them all."""
    assets = K3sAssets(arch)
    binary = b"\x7fELF" + hashlib.sha512(f"k3s {tag} {arch}".encode()).digest() * 200
    tar = docker_archive(tag, arch, images_size)
    files: dict[str, bytes] = {assets.binary: binary}
    if with_tar:
        files[assets.images[1]] = tar
    if with_zst:
        files[assets.images[0]] = zstandard.ZstdCompressor(level=1).compress(tar)
    lines = [f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in files.items()]
    files[assets.sums] = ("\n".join(lines) + "\n").encode()
    return ReleaseFiles(tag, arch, files)


def place_in_cache(cache_dir: Path, release: ReleaseFiles, *, images: str = "tar.zst") -> Path:
    """Write a Rancher Desktop cache folder for `release` (one images format, as RD does)."""
    folder = cache_dir / "k3s" / release.tag
    folder.mkdir(parents=True, exist_ok=True)
    assets = release.assets
    wanted = assets.images[0] if images == "tar.zst" else assets.images[1]
    for name in (assets.binary, assets.sums, wanted):
        (folder / name).write_bytes(release.files[name])
    (folder / assets.binary).chmod(0o755)
    return folder


def serve_release(files: dict[str, bytes | Path], release: ReleaseFiles) -> None:
    """Add a release's assets to a LocalUpstream's file table under /k3s/<tag>/, and its
    (stand-in) install.sh under /raw/k3s-io/k3s/<tag>/."""
    for name, data in release.files.items():
        files[f"/k3s/{release.tag}/{name}"] = data
    files[script_path(release.tag)] = stand_in_install_script(release.tag)


def github_release(tag: str, names: list[str]) -> dict[str, object]:
    """A GitHub releases API entry for `tag` with these asset names."""
    return {
        "tag_name": tag,
        "name": tag,
        "draft": False,
        "prerelease": False,
        "assets": [{"name": name, "size": 0} for name in names],
    }
