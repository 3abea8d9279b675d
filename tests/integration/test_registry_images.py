"""`images push` into a real CNCF Distribution registry, confirmed by skopeo."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support import registry as registry_support
from tests.support.images import ArchivedImage, docker_save_archive, oci_layout_archive
from tests.support.registry import Registry, start_registry

pytestmark = pytest.mark.skipif(
    registry_support.available() is not None, reason=str(registry_support.available())
)
needs_skopeo = pytest.mark.skipif(
    shutil.which("skopeo") is None, reason="skopeo is not installed: apt-get install skopeo"
)
TAG = "v1.32.3+k3s1"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "registry")
    yield running
    running.stop()


def _skopeo(*args: str) -> str:
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _target(registry: Registry, name: str, prefix: str = "") -> str:
    path = name.removeprefix("docker.io/")
    return f"{registry.host}/{prefix + '/' if prefix else ''}{path}"


@needs_skopeo
@pytest.mark.parametrize(
    ("maker", "suffix"),
    [
        (docker_save_archive, ".tar"),
        (docker_save_archive, ".tar.zst"),
        (oci_layout_archive, ".tar"),
        (oci_layout_archive, ".tar.zst"),
    ],
    ids=["docker-save-tar", "docker-save-zst", "oci-layout-tar", "oci-layout-zst"],
)
def test_push_archive_then_skopeo_inspects_and_copies_with_the_archive_digests(
    registry: Registry, cli: Cli, tmp_path: Path, maker, suffix: str
) -> None:
    archive = tmp_path / f"k3s-airgap-images-amd64{suffix}"
    images: list[ArchivedImage] = maker(archive)
    result = cli("images", "push", str(archive), "--to", registry.host, "--plain-http", "--json")
    assert result.code == 0, result.stderr
    report = result.json()["archives"][0]
    assert {i["target"] for i in report["images"]} == {
        _target(registry, image.name) for image in images
    }
    for image in images:
        reference = f"docker://{_target(registry, image.name)}"
        inspected = json.loads(_skopeo("inspect", "--tls-verify=false", reference))
        assert tuple(inspected["Layers"]) == image.layer_digests
        raw = json.loads(_skopeo("inspect", "--raw", "--tls-verify=false", reference))
        assert raw["config"]["digest"] == image.config_digest
    copied = tmp_path / "copied"
    first = images[0]
    _skopeo(
        "copy",
        "--src-tls-verify=false",
        f"docker://{_target(registry, first.name)}",
        f"dir:{copied}",
    )
    for digest in first.layer_digests:
        data = (copied / digest[7:]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    # a second push uploads no blob at all
    before = registry.blob_uploads()
    again = cli("images", "push", str(archive), "--to", registry.host, "--plain-http", "--json")
    assert again.code == 0, again.stderr
    assert registry.blob_uploads() == before
    assert again.json()["archives"][0]["uploaded"] == 0


def test_shared_layer_uploaded_once_and_mounted(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    archive = tmp_path / "images.tar"
    images = docker_save_archive(archive)
    result = cli(
        "images", "push", str(archive), "--to", f"{registry.host}/mirror", "--plain-http", "--json"
    )
    assert result.code == 0, result.stderr
    report = result.json()["archives"][0]
    distinct = {d for image in images for d in (image.config_digest, *image.layer_digests)}
    puts = [r for r in registry.blob_uploads() if r[0] == "PUT"]
    assert len(puts) == len(distinct) == report["uploaded"]
    assert report["mounted"] == 1  # the base layer shared by two repositories
    assert all(t["target"].startswith(f"{registry.host}/mirror/rancher/") for t in report["images"])


def test_tag_and_bundle_folder_sources(registry: Registry, cli: Cli, tmp_path: Path) -> None:
    cached = cli.cache_dir / "k3s" / TAG
    cached.mkdir(parents=True)
    docker_save_archive(cached / "k3s-airgap-images-amd64.tar.zst")
    by_tag = cli("images", "push", TAG, "--arch", "amd64", "--to", registry.host, "--plain-http")
    assert by_tag.code == 0, by_tag.stderr
    assert "rancher/mirrored-pause:3.6" in by_tag.stdout
    bundle = tmp_path / "bundle" / "k3s" / TAG
    bundle.mkdir(parents=True)
    oci_layout_archive(bundle / "k3s-airgap-images-arm64.tar")
    by_dir = cli(
        "images",
        "push",
        str(tmp_path / "bundle"),
        "--to",
        f"{registry.host}/b",
        "--plain-http",
        "--json",
    )
    assert by_dir.code == 0, by_dir.stderr
    assert len(by_dir.json()["archives"][0]["images"]) == 3


def test_unknown_source_and_broken_archive_are_clear_errors(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    missing = cli("images", "push", "v9.9.9+k3s1", "--to", registry.host, "--plain-http")
    assert missing.code == 1 and "v9.9.9+k3s1" in missing.stderr and "cache add" in missing.stderr
    broken = tmp_path / "broken.tar.zst"
    broken.write_bytes(b"not zstd at all")
    result = cli("images", "push", str(broken), "--to", registry.host, "--plain-http")
    assert result.code == 1 and str(broken) in result.stderr
    assert "images archive" in result.stderr and "Traceback" not in result.stderr
    assert registry.blob_uploads() == []


def test_auth_failure_names_the_registry_and_the_fix(cli: Cli, tmp_path: Path) -> None:
    from tests.support.registry import htpasswd_auth

    root = tmp_path / "basic"
    root.mkdir()
    running = start_registry(root, htpasswd_auth(root, {"alice": "s3cret"}))
    try:
        archive = tmp_path / "images.tar"
        docker_save_archive(archive)
        result = cli("images", "push", str(archive), "--to", running.host, "--plain-http")
        assert result.code == 1 and running.url in result.stderr
        assert "--password-stdin" in result.stderr and "docker login" in result.stderr
    finally:
        running.stop()
