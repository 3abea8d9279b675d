"""`mirror serve` answers the registry API: skopeo and curl against it, digests as upstream's."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support import registry as registry_support
from tests.support.mirror import MirrorProcess, curl, edit_bundle, header
from tests.support.registry import Registry, start_registry
from tests.support.workload import (
    BuiltImage,
    busybox_docker_archive,
    busybox_image,
    busybox_path,
    have_skopeo,
    multiarch_image,
    push,
    skopeo,
)

pytestmark = [
    pytest.mark.skipif(
        registry_support.available() is not None, reason=str(registry_support.available())
    ),
    pytest.mark.skipif(not have_skopeo(), reason="skopeo is not installed: apt-get install skopeo"),
    pytest.mark.skipif(busybox_path() is None, reason="busybox-static is not installed"),
]
AIRGAP_NAME = "docker.io/rancher/kubeferry-airgap:1"
AIRGAP_PATH = "k3s/v1.30.6+k3s1/k3s-airgap-images-amd64.tar.zst"


@dataclass
class Served:
    registry: Registry
    hello: BuiltImage
    multi: BuiltImage
    airgap_layer: str
    bundle: Path
    mirror: MirrorProcess

    @property
    def host(self) -> str:
        return self.mirror.base.removeprefix("http://")


def make_image_bundle(cli: Cli, registry: Registry, tmp_path: Path) -> tuple[Path, dict]:
    """hello:1.0 (busybox) as docker.io and ghcr.io, multi:3 (three platforms, two kept), and
    a k3s airgap archive with a busybox image."""
    hello = busybox_image(tmp_path / "hello", "1.0")
    push(hello, f"{registry.host}/library/hello:1.0")
    multi = multiarch_image(tmp_path / "multi", "3")
    push(multi, f"{registry.host}/team/multi:3")
    made = tmp_path / "made"
    result = cli(
        "bundle", "create", str(made), "--k3s", "none", "--kubectl", "none",
        "--source-endpoint", f"docker.io={registry.url}",
        "--source-endpoint", f"ghcr.io={registry.url}",
        "--image", "hello:1.0", "--image", "ghcr.io/library/hello:1.0",
        "--image", "team/multi:3", "--platform", "linux/amd64", "--platform", "linux/arm64",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    archive = tmp_path / "airgap.tar.zst"
    layer = busybox_docker_archive(archive, AIRGAP_NAME)
    bundle = edit_bundle(made, tmp_path / "bundle", {AIRGAP_PATH: archive.read_bytes()})
    return bundle, {"hello": hello, "multi": multi, "airgap_layer": layer}


@pytest.fixture
def served(cli: Cli, tmp_path: Path) -> Iterator[Served]:
    registry = start_registry(tmp_path / "registry")
    try:
        bundle, built = make_image_bundle(cli, registry, tmp_path)
        extra = ("--blob-cache", str(tmp_path / "blob-cache"))
        with MirrorProcess(cli.env, bundle, extra=extra) as mirror:
            yield Served(
                registry, built["hello"], built["multi"], built["airgap_layer"], bundle, mirror
            )
    finally:
        registry.stop()


def test_skopeo_reads_the_mirror_with_upstream_digests(served: Served, tmp_path: Path) -> None:
    hello = f"docker://{served.host}/docker.io/library/hello:1.0"
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", hello))
    assert inspected["Digest"] == served.hello.digest
    assert inspected["Layers"] == list(served.hello.layers)
    upstream = f"docker://{served.registry.host}/team/multi:3"
    mirror = f"docker://{served.host}/team/multi:3"
    raw = skopeo("inspect", "--raw", "--tls-verify=false", mirror)
    assert raw == skopeo("inspect", "--raw", "--tls-verify=false", upstream)
    for number, arch in enumerate(("amd64", "arm64")):
        found = skopeo("inspect", "--tls-verify=false", "--override-arch", arch, mirror)
        assert json.loads(found)["Layers"] == [served.multi.layers[number]]
    copies = {}
    for name, source in (("mirror", mirror), ("upstream", upstream)):
        target = tmp_path / f"copy-{name}"
        skopeo(
            "copy", "--src-tls-verify=false", "--preserve-digests", "--override-arch", "arm64",
            source, f"oci:{target}:x",
        )  # fmt: skip
        copies[name] = sorted(p.name for p in (target / "blobs" / "sha256").iterdir())
    assert copies["mirror"] == copies["upstream"]
    airgap = f"docker://{served.host}/rancher/kubeferry-airgap:1"
    assert json.loads(skopeo("inspect", "--tls-verify=false", airgap))["Layers"] == [
        served.airgap_layer
    ]


def test_the_api_answers_like_a_registry_and_refuses_writes(served: Served) -> None:
    base = served.mirror.base
    ping = curl("-D", "-", "-o", "/dev/null", f"{base}/v2/").stdout
    assert header(ping, "Docker-Distribution-API-Version") == "registry/2.0"
    path = "/v2/library/hello/manifests/1.0"
    ambiguous = curl("-w", "%{http_code}", f"{base}{path}").stdout.decode()
    assert ambiguous.endswith("404") and "docker.io/library/hello" in ambiguous
    assert "ghcr.io/library/hello" in ambiguous
    head = curl("-I", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                f"{base}{path}?ns=docker.io").stdout  # fmt: skip
    assert header(head, "Docker-Content-Digest") == served.hello.digest
    assert header(head, "Content-Type") == "application/vnd.oci.image.manifest.v1+json"
    layer = served.hello.layers[0]
    ranged = curl("-D", "-", "-o", "/dev/null", "-r", "10-19",
                  f"{base}/v2/library/hello/blobs/{layer}?ns=ghcr.io").stdout  # fmt: skip
    assert b" 206" in ranged.splitlines()[0] and header(ranged, "Content-Length") == "10"
    tags = json.loads(curl(f"{base}/v2/team/multi/tags/list").stdout)
    assert tags == {"name": "team/multi", "tags": ["3"]}
    missing = curl("-w", "%{http_code}", f"{base}/v2/team/multi/manifests/9").stdout.decode()
    assert missing.endswith("404") and "MANIFEST_UNKNOWN" in missing
    put = curl("-X", "PUT", "-w", "\n%{http_code}", f"{base}/v2/team/multi/manifests/4").stdout
    body, status = put.decode().rsplit("\n", 1)
    assert status == "405" and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"


def test_a_blob_changed_after_start_is_refused(served: Served) -> None:
    layer = served.hello.layers[0]
    url = f"{served.mirror.base}/v2/library/hello/blobs/{layer}?ns=docker.io"
    assert curl("-o", "/dev/null", "-w", "%{http_code}", url).stdout == b"200"
    path = served.bundle / "images" / "blobs" / "sha256" / layer[7:]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    refused = curl("-w", "%{http_code}", url).stdout.decode()
    assert refused.endswith("503") and "does not match" in refused


def test_workload_and_airgap_images_only_need_the_bundle(cli: Cli, tmp_path: Path) -> None:
    """The blob cache is rebuilt from the bundle alone (the source registry is gone)."""
    registry = start_registry(tmp_path / "registry")
    try:
        bundle, built = make_image_bundle(cli, registry, tmp_path)
    finally:
        registry.stop()
    cache = tmp_path / "cache"
    with MirrorProcess(cli.env, bundle, extra=("--blob-cache", str(cache))) as mirror:
        url = f"{mirror.base}/v2/rancher/kubeferry-airgap/blobs/{built['airgap_layer']}"
        assert curl("-o", "/dev/null", "-w", "%{http_code}", url).stdout == b"200"
    assert (cache / "sha256" / built["airgap_layer"][7:]).is_file()
    shutil.rmtree(cache)


@pytest.mark.parametrize(
    ("index", "noted"),
    [(b"[1, 2]", True), (b'{"manifests": [1, {"digest": 3}]}', False), (b"not json", True)],
    ids=["a-list", "odd-descriptors", "not-json"],
)
def test_a_damaged_images_index_is_reported_and_the_rest_still_served(
    cli: Cli, tmp_path: Path, index: bytes, noted: bool
) -> None:
    registry = start_registry(tmp_path / "registry")
    try:
        bundle, _ = make_image_bundle(cli, registry, tmp_path)
    finally:
        registry.stop()
    damaged = edit_bundle(bundle, tmp_path / "damaged", {"images/index.json": index})
    extra = ("--blob-cache", str(tmp_path / "cache"))
    with MirrorProcess(cli.env, damaged, extra=extra) as mirror:
        hello = curl("-w", "%{http_code}", f"{mirror.base}/v2/library/hello/manifests/1.0")
        assert hello.stdout.decode().endswith("404")
        airgap = curl("-o", "/dev/null", "-w", "%{http_code}",
                      f"{mirror.base}/v2/rancher/kubeferry-airgap/manifests/1")  # fmt: skip
        assert airgap.stdout == b"200"
    assert ("workload images" in mirror.stderr and "not served" in mirror.stderr) is noted
    assert "Traceback" not in mirror.stderr
