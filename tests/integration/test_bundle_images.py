"""`bundle create --image` from a real Distribution standing in for docker.io; verify, inspect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support import registry as registry_support
from tests.support.registry import Registry, start_registry
from tests.support.workload import (
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


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "registry")
    yield running
    running.stop()


def _create(cli: Cli, bundle: Path, registry: Registry, *args: str) -> dict:
    result = cli(
        "bundle", "create", str(bundle), "--k3s", "none", "--kubectl", "none",
        "--source-endpoint", f"docker.io={registry.url}", "--json", *args,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_create_stores_an_oci_layout_that_verify_covers_and_inspect_lists(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    image = busybox_image(tmp_path / "built", "1.0")
    push(image, f"{registry.host}/library/hello:1.0")
    bundle = tmp_path / "bundle"
    _create(cli, bundle, registry, "--image", "hello:1.0")
    index = json.loads((bundle / "images" / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["digest"] == image.digest
    assert (
        entry["annotations"]["org.opencontainers.image.ref.name"] == "docker.io/library/hello:1.0"
    )
    assert entry["annotations"]["io.containerd.image.name"] == "docker.io/library/hello:1.0"
    assert (bundle / "images" / "blobs" / "sha256" / image.layers[0][7:]).is_file()
    manifest = json.loads((bundle / "kubeferry-bundle.json").read_text())
    paths = {f["path"] for f in manifest["files"]}
    blobs = {
        p.relative_to(bundle).as_posix() for p in (bundle / "images").rglob("*") if p.is_file()
    }
    assert blobs <= paths
    (pin,) = manifest["targets"]["images"]
    assert (pin["reference"], pin["digest"]) == ("docker.io/library/hello:1.0", image.digest)
    verified = cli("bundle", "verify", str(bundle), "--json")
    assert verified.code == 0, verified.stdout
    assert verified.json()["verified"] == len(paths)
    inspected = cli("bundle", "inspect", str(bundle), "--json").json()
    (listed,) = inspected["images"]
    assert listed["digest"] == image.digest and listed["upstream_digest"] is True
    text = cli("bundle", "inspect", str(bundle)).stdout
    assert "docker.io/library/hello:1.0" in text and image.digest[:19] in text
    # one layer byte changed: verify names the blob
    layer = bundle / "images" / "blobs" / "sha256" / image.layers[0][7:]
    data = bytearray(layer.read_bytes())
    data[100] ^= 1
    layer.write_bytes(bytes(data))
    broken = cli("bundle", "verify", str(bundle))
    assert broken.code == 1 and image.layers[0][7:] in broken.stdout


def test_a_second_create_fetches_no_blob_again_and_digest_references_work(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    image = busybox_image(tmp_path / "built", "2")
    push(image, f"{registry.host}/library/hello:2")
    bundle = tmp_path / "bundle"
    _create(cli, bundle, registry, "--image", "hello:2")
    before = len([r for r in registry.requests() if "/blobs/" in r[1] and r[0] == "GET"])
    _create(cli, bundle, registry, "--image", f"docker.io/library/hello:2@{image.digest}")
    after = len([r for r in registry.requests() if "/blobs/" in r[1] and r[0] == "GET"])
    assert after == before
    index = json.loads((bundle / "images" / "index.json").read_text())
    name = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    assert name == f"docker.io/library/hello:2@{image.digest}"


def test_multiarch_keeps_the_upstream_index_and_only_chosen_children(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    image = multiarch_image(tmp_path / "built", "3")
    push(image, f"{registry.host}/team/multi:3")
    bundle = tmp_path / "bundle"
    _create(cli, bundle, registry, "--image", "team/multi:3", "--platform", "linux/arm64")
    blobs = bundle / "images" / "blobs" / "sha256"
    assert (blobs / image.digest[7:]).is_file()
    assert (blobs / image.platforms["linux/arm64"][7:]).is_file()
    assert not (blobs / image.platforms["linux/amd64"][7:]).exists()
    inspected = cli("bundle", "inspect", str(bundle), "--json").json()
    (listed,) = inspected["images"]
    assert listed["platforms"] == ["linux/arm64"]
    assert listed["digest"] == image.digest
    assert set(listed["left_out"]) == {"linux/amd64", "linux/arm/v7"}
    every = tmp_path / "every"
    _create(cli, every, registry, "--image", "team/multi:3", "--platform", "all")
    for child in image.platforms.values():
        assert (every / "images" / "blobs" / "sha256" / child[7:]).is_file()


def test_a_blob_listed_under_another_digest_is_refused(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    image = busybox_image(tmp_path / "built", "4")
    push(image, f"{registry.host}/library/hello:4")
    bundle = tmp_path / "bundle"
    _create(cli, bundle, registry, "--image", "hello:4")
    manifest_path = bundle / "kubeferry-bundle.json"
    manifest = json.loads(manifest_path.read_text())
    layer = f"images/blobs/sha256/{image.layers[0][7:]}"
    other = "images/blobs/sha256/" + "0" * 64
    (bundle / other).write_bytes((bundle / layer).read_bytes())  # right bytes, lying name
    for entry in manifest["files"]:
        if entry["path"] == layer:
            entry["path"] = other
    manifest_path.write_text(json.dumps(manifest))
    result = cli("bundle", "verify", str(bundle))
    assert result.code == 1 and "a blob's name is its digest" in result.stderr


def test_a_bearer_token_source_with_docker_config_credentials(cli: Cli, tmp_path: Path) -> None:
    """Docker Hub / ghcr.io style: a 401 challenge names a token service; the credentials come
    from Docker's config.json."""
    import base64

    from tests.support.registry import token_auth
    from tests.support.token_server import TokenServer, TokenState, make_token_key

    key = make_token_key(tmp_path)
    with TokenServer(TokenState(key, users={"u": "p"})) as tokens:
        running = start_registry(tmp_path / "token-registry", token_auth(tokens.realm, key))
        try:
            image = busybox_image(tmp_path / "built", "5")
            skopeo(
                "copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", "u:p",
                f"oci:{image.layout}:5", f"docker://{running.host}/library/hello:5",
            )  # fmt: skip
            docker = cli.home / ".docker"
            docker.mkdir()
            auth = base64.b64encode(b"u:p").decode()
            (docker / "config.json").write_text(
                json.dumps({"auths": {"docker.io": {"auth": auth}}})
            )
            bundle = tmp_path / "bundle"
            _create(cli, bundle, running, "--image", "hello:5")
            assert (bundle / "images" / "blobs" / "sha256" / image.layers[0][7:]).is_file()
            scopes = {scope for r in tokens.state.requests for scope in r["scope"]}
            assert "repository:library/hello:pull" in scopes
        finally:
            running.stop()


def test_ctrl_c_mid_blob_then_a_second_create_resumes_it(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from tests.support.interrupt import interrupt
    from tests.support.throttle import ThrottleProxy
    from tests.support.workload import random_image

    size = 24 * 1024 * 1024
    image = random_image(tmp_path / "built", "6", size)
    push(image, f"{registry.host}/library/big:6")
    bundle = tmp_path / "bundle"
    part = bundle / "images" / "blobs" / "sha256" / f".{image.layers[0][7:]}.part"
    args = ["bundle", "create", str(bundle), "--k3s", "none", "--kubectl", "none",
            "--image", "big:6"]  # fmt: skip
    with ThrottleProxy(registry.port, rate=4 * 1024 * 1024) as proxy:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeferry",
                *args,
                "--source-endpoint",
                f"docker.io=http://{proxy.host}",
            ],
            env=cli.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not part.exists() or part.stat().st_size < size // 4
        ):
            time.sleep(0.02)
        ended = interrupt(child, guard=20)
    assert ended.returncode == 128 + signal.SIGINT, ended.stderr
    assert "Traceback" not in ended.stderr
    kept = part.stat().st_size
    assert size // 4 <= kept < size
    assert not (bundle / "kubeferry-bundle.json").exists()
    _create(cli, bundle, registry, "--image", "big:6")
    ranged = [r for r in registry.requests() if image.layers[0] in r[1] and r[2] == 206]
    assert ranged, "the second run did not resume with Range"
    assert cli("bundle", "verify", str(bundle)).code == 0


def test_dry_run_resolves_images_and_writes_nothing(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    image = multiarch_image(tmp_path / "built", "7")
    push(image, f"{registry.host}/team/multi:7")
    bundle = tmp_path / "bundle"
    plan = _create(cli, bundle, registry, "--image", "team/multi:7", "--dry-run")
    (pin,) = plan["images"]
    assert pin["digest"] == image.digest and pin["platforms"] == ["linux/amd64"]
    assert not bundle.exists() or not any(bundle.rglob("*"))
    text = cli(
        "bundle", "create", str(bundle), "--k3s", "none", "--kubectl", "none", "--dry-run",
        "--source-endpoint", f"docker.io={registry.url}", "--image", "team/multi:7",
    )  # fmt: skip
    assert text.code == 0 and image.digest in text.stdout
