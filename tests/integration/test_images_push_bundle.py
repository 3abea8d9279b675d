"""`images push BUNDLE` pushes the bundle's workload images too; unnamed images fail loudly."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.integration.test_mirror_registry import make_image_bundle
from tests.support import registry as registry_support
from tests.support.registry import Registry, start_registry
from tests.support.workload import busybox_docker_archive, busybox_path, have_skopeo, skopeo

pytestmark = [
    pytest.mark.skipif(
        registry_support.available() is not None, reason=str(registry_support.available())
    ),
    pytest.mark.skipif(not have_skopeo(), reason="skopeo is not installed: apt-get install skopeo"),
    pytest.mark.skipif(busybox_path() is None, reason="busybox-static is not installed"),
]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "target-registry")
    yield running
    running.stop()


def test_bundle_workload_images_are_pushed_under_the_prefix(
    cli: Cli, tmp_path: Path, registry: Registry
) -> None:
    source = start_registry(tmp_path / "source-registry")
    try:
        bundle, built = make_image_bundle(cli, source, tmp_path)
    finally:
        source.stop()
    result = cli(
        "images", "push", str(bundle), "--to", f"{registry.host}/team", "--plain-http", "--json"
    )
    assert result.code == 0, result.stderr
    pushed = {
        image["target"]: image["digest"]
        for report in result.json()["archives"]
        for image in report["images"]
    }
    hello = f"{registry.host}/team/library/hello:1.0"
    assert pushed[hello] == built["hello"].digest
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{hello}"))
    assert inspected["Digest"] == built["hello"].digest
    multi = f"{registry.host}/team/team/multi:3"
    assert pushed[multi] != built["multi"].digest  # two of three platforms: a filtered index
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{multi}"))
    assert {c["digest"] for c in raw["manifests"]} == {
        built["multi"].platforms["linux/amd64"],
        built["multi"].platforms["linux/arm64"],
    }
    airgap = f"{registry.host}/team/rancher/kubeferry-airgap:1"
    assert airgap in pushed


def _unnamed_archive(path: Path) -> None:
    named = path.with_name("named.tar")
    busybox_docker_archive(named, "docker.io/library/x:1")
    out = io.BytesIO()
    with tarfile.open(named) as source, tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                entries = json.loads(data)
                entries[0]["RepoTags"] = []
                data = json.dumps(entries).encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    path.write_bytes(out.getvalue())


def test_unnamed_images_fail_unless_skipped(cli: Cli, tmp_path: Path, registry: Registry) -> None:
    archive = tmp_path / "k3s-airgap-images-amd64.tar"
    _unnamed_archive(archive)
    result = cli("images", "push", str(archive), "--to", registry.host, "--plain-http")
    assert result.code == 1
    assert "nothing was pushed" in result.stderr or "no full name" in result.stderr
    assert "skipped manifest sha256:" in result.stdout


def test_the_help_examples_parse(cli: Cli, tmp_path: Path) -> None:
    from kubeferry.cli.examples import EXAMPLES

    for example in EXAMPLES["images push"]:
        args = example.split()[1:]
        result = cli(*args, "--plain-http", "--offline")
        assert "Missing argument" not in result.stderr, example
        assert result.code == 1 and "kubeferry: error:" in result.stderr


def test_bundle_push_and_pull_carry_the_images_layout(
    cli: Cli, tmp_path: Path, registry: Registry
) -> None:
    source = start_registry(tmp_path / "source-registry")
    try:
        bundle, _ = make_image_bundle(cli, source, tmp_path)
    finally:
        source.stop()
    ref = f"{registry.host}/offline/bundle:1"
    assert cli("bundle", "push", str(bundle), ref, "--plain-http").code == 0
    pulled = tmp_path / "pulled"
    result = cli("bundle", "pull", ref, str(pulled), "--plain-http")
    assert result.code == 0, result.stderr
    assert (pulled / "images" / "index.json").read_bytes() == (
        bundle / "images" / "index.json"
    ).read_bytes()
    assert cli("bundle", "verify", str(pulled)).code == 0
