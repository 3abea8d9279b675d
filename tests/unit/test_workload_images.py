"""Pure pieces of workload images: references, bundle paths, platforms, hosts.toml, endpoints."""

from __future__ import annotations

import pytest

from kubeferry.bundle.images import platform_matches
from kubeferry.core.image_names import parse_image_reference
from kubeferry.core.layouts import parse_bundle_path
from kubeferry.errors import RegistryError, UsageError
from kubeferry.registry.collect import (
    SMALL_BLOB,
    endpoint_for,
    fetch_order,
    parse_source_endpoints,
)
from kubeferry.registry.hosts_toml import hosts_toml
from kubeferry.registry.registries_yaml import MirrorSettings

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("rancher/k3s:v1", "docker.io/rancher/k3s:v1"),
        ("ghcr.io/org/app:1.2", "ghcr.io/org/app:1.2"),
        (f"nginx:1.27@{DIGEST}", f"docker.io/library/nginx:1.27@{DIGEST}"),
        (f"quay.io/x/y@{DIGEST}", f"quay.io/x/y@{DIGEST}"),
        ("localhost:5000/a/b:c", "localhost:5000/a/b:c"),
        ("index.docker.io/library/x:1", "docker.io/library/x:1"),
    ],
)
def test_references_expand_as_docker_does(text: str, full: str) -> None:
    assert parse_image_reference(text).full == full


@pytest.mark.parametrize(
    "text",
    ["", "../x", "/abs/x", "a//b", "x:../1", "UPPER", "a b", "x@sha256:12", "a/../b:1"],
)
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(RegistryError, match="is not a registry reference"):
        parse_image_reference(text)


def test_bundle_paths_know_the_images_layout() -> None:
    assert parse_bundle_path("images/index.json").kind == "image"  # type: ignore[union-attr]
    assert parse_bundle_path("images/oci-layout").kind == "image"  # type: ignore[union-attr]
    blob = parse_bundle_path(f"images/blobs/sha256/{'b' * 64}")
    assert blob is not None and blob.name == f"sha256:{'b' * 64}"
    for bad in (
        "images/blobs/sha256/xyz",
        f"images/blobs/sha512/{'b' * 64}",
        f"images/blobs/sha256/{'B' * 64}",
        "images/other.json",
        f"images/blobs/sha256/{'b' * 64}/x",
        "images/../kubeferry-bundle.json",
    ):
        assert parse_bundle_path(bad) is None, bad


@pytest.mark.parametrize(
    ("wanted", "actual", "matches"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/arm", "linux/arm/v7", True),
        ("linux/arm64/v8", "linux/arm64", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/amd64", "windows/amd64", False),
        ("all", "unknown/unknown", True),
    ],
)
def test_platforms(wanted: str, actual: str, matches: bool) -> None:
    assert platform_matches(wanted, actual) is matches


def test_hosts_toml_for_a_kubeferry_mirror_and_a_prefixed_registry() -> None:
    plain = hosts_toml(MirrorSettings("http://mirror:8080", plain_http=True), "docker.io")
    assert plain.splitlines()[0] == 'server = "https://registry-1.docker.io"'
    assert '[host."http://mirror:8080"]' in plain and "override_path" not in plain
    prefixed = hosts_toml(
        MirrorSettings("registry.corp:5000/mirror", ca_file="/etc/ca.pem"), "ghcr.io"
    )
    assert 'server = "https://ghcr.io"' in prefixed
    assert '[host."https://registry.corp:5000/v2/mirror"]' in prefixed
    assert "override_path = true" in prefixed and 'ca = "/etc/ca.pem"' in prefixed


def test_source_endpoints_from_options_and_environment() -> None:
    environ = {"KUBEFERRY_SOURCE_ENDPOINTS": "docker.io=http://a:1, quay.io=https://b/"}
    found = parse_source_endpoints(("docker.io=http://c:2",), environ)
    assert found == {"docker.io": "http://c:2", "quay.io": "https://b"}
    assert endpoint_for("docker.io", {}) == "https://registry-1.docker.io"
    assert endpoint_for("ghcr.io", {}) is None
    with pytest.raises(UsageError, match="HOST=URL"):
        parse_source_endpoints(("docker.io",), {})


def test_small_blobs_are_fetched_first_then_the_largest() -> None:
    sizes = [50 << 20, 1500, 80 << 20, SMALL_BLOB, 700, SMALL_BLOB + 1, 60 << 20]
    ordered = sorted(sizes, key=fetch_order)
    assert ordered == [700, 1500, SMALL_BLOB, 80 << 20, 60 << 20, 50 << 20, SMALL_BLOB + 1]
