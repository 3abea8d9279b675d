"""`bundle create --image` from a source registry that misbehaves: clear errors, no bytes kept."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.hostile_registry import LAYER, Hostile, digest, hostile_registry


@pytest.fixture
def hostile(cli: Cli) -> Hostile:
    docker = cli.home / ".docker"
    docker.mkdir()
    auth = base64.b64encode(b"u:p").decode()
    (docker / "config.json").write_text(json.dumps({"auths": {"docker.io": {"auth": auth}}}))
    with hostile_registry() as running:
        yield running


def _create(cli: Cli, bundle: Path, hostile: Hostile, image: str):
    return cli(
        "bundle", "create", str(bundle), "--k3s", "none", "--kubectl", "none",
        "--source-endpoint", f"docker.io={hostile.url}", "--image", image,
    )  # fmt: skip


def _stored(bundle: Path) -> list[str]:
    return [p.name for p in bundle.rglob("*") if p.is_file() and p.name != ".kubeferry.lock"]


@pytest.mark.parametrize(
    ("image", "words"),
    [
        ("liar:1", ["sha256", "expected", digest(LAYER)[7:]]),
        ("huge:1", ["larger than", "refused"]),
        ("wide:1", ["larger than", "refused"]),
        ("many:1", ["at most 1024"]),
    ],
    ids=["wrong-bytes", "50MB-manifest", "100k-children", "2000-children"],
)
def test_bad_sources_are_refused_with_nothing_stored(
    cli: Cli, tmp_path: Path, hostile: Hostile, image: str, words: list[str]
) -> None:
    bundle = tmp_path / "bundle"
    result = _create(cli, bundle, hostile, image)
    assert result.code == 1, result.stdout
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert not (bundle / "kubeferry-bundle.json").exists()
    assert not [name for name in _stored(bundle) if name == digest(LAYER)[7:]]


def test_a_blob_redirected_to_another_host_gets_no_credentials(
    cli: Cli, tmp_path: Path, hostile: Hostile
) -> None:
    bundle = tmp_path / "bundle"
    result = _create(cli, bundle, hostile, "moved:1")
    assert result.code == 0, result.stderr
    assert hostile.storage_headers, "the storage host was never asked"
    assert all("authorization" not in headers for headers in hostile.storage_headers)
    assert (bundle / "images" / "blobs" / "sha256" / digest(LAYER)[7:]).read_bytes() == LAYER


@pytest.mark.parametrize(
    "image",
    ["../../etc/passwd", "/etc/passwd", "library/../x:1", "docker.io/library/x:../../1", "UPPER:1"],
)
def test_unsafe_names_are_refused_before_anything_is_asked(
    cli: Cli, tmp_path: Path, hostile: Hostile, image: str
) -> None:
    bundle = tmp_path / "bundle"
    result = _create(cli, bundle, hostile, image)
    assert result.code == 1
    assert "is not a registry reference" in result.stderr and "Traceback" not in result.stderr
    assert not bundle.exists() or not _stored(bundle)


def test_username_and_password_stdin_reach_the_source_registry(cli: Cli, tmp_path: Path) -> None:
    with hostile_registry() as running:  # no config.json in this home: only the options
        bundle = tmp_path / "bundle"
        result = cli(
            "bundle", "create", str(bundle), "--k3s", "none", "--kubectl", "none",
            "--source-endpoint", f"docker.io={running.url}", "--image", "moved:1",
            "--username", "u", "--password-stdin", stdin="p\n",
        )  # fmt: skip
        assert result.code == 0, result.stderr
        assert all("authorization" not in headers for headers in running.storage_headers)
        wrong = cli(
            "bundle", "create", str(tmp_path / "other"), "--k3s", "none", "--kubectl", "none",
            "--source-endpoint", f"docker.io={running.url}", "--image", "moved:1",
            "--username", "u", "--password-stdin", stdin="nope\n",
        )  # fmt: skip
        assert wrong.code == 1 and "401" in wrong.stderr and "Traceback" not in wrong.stderr
