"""Registry references, image names, auth challenges and Docker's config.json (pure parts)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from kubeferry.core.image_names import (
    normalize_image_name,
    parse_reference,
    parse_registry,
    target_reference,
)
from kubeferry.errors import RegistryAuthError, RegistryError
from kubeferry.oci.auth import (
    docker_config_credentials,
    docker_config_path,
    parse_challenge,
    request_scopes,
)


@pytest.mark.parametrize(
    ("text", "registry", "repository", "reference"),
    [
        (
            "registry.example:5000/platform/offline:2026-11",
            "registry.example:5000",
            "platform/offline",
            "2026-11",
        ),
        ("localhost/a", "localhost", "a", "latest"),
        (
            "127.0.0.1:5000/a/b/c@sha256:" + "a" * 64,
            "127.0.0.1:5000",
            "a/b/c",
            "sha256:" + "a" * 64,
        ),
    ],
    ids=["tag", "localhost-default-tag", "digest"],
)
def test_parse_reference(text: str, registry: str, repository: str, reference: str) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.reference) == (registry, repository, reference)


@pytest.mark.parametrize(
    "text",
    [
        "platform/offline:1",
        "registry.example:5000/Upper:1",
        "r.example/a:b:c",
        "r.example/a@sha256:zz",
    ],
    ids=["no-host", "uppercase", "two-colons", "bad-digest"],
)
def test_parse_reference_refuses(text: str) -> None:
    with pytest.raises(RegistryError, match="HOST"):
        parse_reference(text)


@pytest.mark.parametrize(
    ("name", "registry", "expected"),
    [
        ("docker.io/rancher/mirrored-pause:3.6", "r:5000", "r:5000/rancher/mirrored-pause:3.6"),
        ("rancher/klipper-helm:v0.9", "r:5000", "r:5000/rancher/klipper-helm:v0.9"),
        ("busybox", "r:5000", "r:5000/library/busybox:latest"),
        ("registry.k8s.io/pause:3.9", "r:5000", "r:5000/pause:3.9"),
        ("index.docker.io/rancher/x:1", "r:5000", "r:5000/rancher/x:1"),
    ],
    ids=["docker-io", "no-host", "official", "other-registry", "index-docker-io"],
)
def test_image_target_keeps_the_repository_path(name: str, registry: str, expected: str) -> None:
    assert str(target_reference(normalize_image_name(name), registry)) == expected


def test_registry_prefix() -> None:
    assert parse_registry("https://r.example:5000/mirror/") == ("r.example:5000", "mirror")
    image = normalize_image_name("docker.io/rancher/mirrored-pause:3.6")
    assert str(target_reference(image, "r:1", "m")) == "r:1/m/rancher/mirrored-pause:3.6"


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry",
        "scope": "repository:a:pull",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


@pytest.mark.parametrize(
    ("method", "url", "scopes"),
    [
        ("HEAD", "https://r/v2/a/b/blobs/sha256:1", ("repository:a/b:pull",)),
        ("PUT", "https://r/v2/a/manifests/1", ("repository:a:pull,push",)),
        (
            "POST",
            "https://r/v2/b/blobs/uploads/?mount=sha256:1&from=a/x",
            ("repository:b:pull,push", "repository:a/x:pull"),
        ),
        ("GET", "https://r/v2/", ()),
    ],
    ids=["pull", "push", "mount", "ping"],
)
def test_request_scopes(method: str, url: str, scopes: tuple[str, ...]) -> None:
    assert request_scopes(httpx.Request(method, url)) == scopes


def test_docker_config(tmp_path: Path) -> None:
    assert docker_config_path({"DOCKER_CONFIG": str(tmp_path)}, Path("/nowhere")) == (
        tmp_path / "config.json"
    )
    assert docker_config_path({}, tmp_path) == tmp_path / ".docker" / "config.json"
    config = tmp_path / "config.json"
    assert docker_config_credentials("r:5000", config) is None
    auth = base64.b64encode(b"alice:pa:ss").decode()
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "https://r:5000": {"auth": auth},
                    "https://index.docker.io/v1/": {"auth": auth},
                }
            }
        )
    )
    found = docker_config_credentials("r:5000", config)
    assert found is not None and (found.username, found.password) == ("alice", "pa:ss")
    assert docker_config_credentials("docker.io", config) is not None
    assert docker_config_credentials("other:1", config) is None
    config.write_text("{not json")
    with pytest.raises(RegistryAuthError, match=r"config\.json"):
        docker_config_credentials("r:5000", config)
