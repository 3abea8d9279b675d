"""`kubeferry versions`: the catalog online, only verified cached versions offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.k3s import place_in_cache, release_files
from tests.support.upstream import LocalUpstream


def _catalog(cli: Cli, content: str) -> Path:
    path = cli.cache_dir / "k3s-versions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


@pytest.fixture
def cached(cli: Cli) -> dict[str, Path]:
    """A good, a corrupt, an incomplete and an unlisted-but-good version folder."""
    folders = {}
    for tag in ("v1.33.3+k3s1", "v1.32.7+k3s1", "v1.31.11+k3s1", "v1.99.0+k3s1"):
        folders[tag] = place_in_cache(cli.cache_dir, release_files(tag))
    images = folders["v1.32.7+k3s1"] / "k3s-airgap-images-amd64.tar.zst"
    data = bytearray(images.read_bytes())
    data[100] ^= 0xFF
    images.write_bytes(bytes(data))
    (folders["v1.31.11+k3s1"] / "sha256sum-amd64.txt").unlink()
    return folders


def test_online_lists_the_catalog_with_channels_and_cached_flags(cli: Cli, cached: dict) -> None:
    result = cli("versions", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    rows = {row["tag"]: row for row in data["versions"]}
    assert data["catalog"] == "embedded default" and not data["offline"]
    assert rows["v1.33.3+k3s1"]["channels"] == ["stable", "latest", "v1.33"]
    assert rows["v1.33.3+k3s1"]["cached"] is True
    assert rows["v1.32.7+k3s1"]["cached"] is False  # corrupt does not count
    assert rows["v1.99.0+k3s1"] == {
        "tag": "v1.99.0+k3s1",
        "version": "1.99.0",
        "channels": [],
        "cached": True,
        "listed": False,
        "kubectl": None,
    }
    assert len(rows) == 117
    assert data["versions"][0]["tag"] == "v1.99.0+k3s1"  # newest first


@pytest.mark.parametrize("how", [["--offline"], ["versions", "--offline"]], ids=["before", "after"])
def test_offline_lists_only_verified_cached_versions(
    cli: Cli, cached: dict, how: list[str]
) -> None:
    with LocalUpstream() as upstream:
        args = [*how, "--json"] if how[0] == "versions" else [*how, "versions", "--json"]
        result = cli(*args, env=upstream.environ())
        assert upstream.state.requests == []
    assert result.code == 0, result.stderr
    assert [row["tag"] for row in result.json()["versions"]] == ["v1.99.0+k3s1", "v1.33.3+k3s1"]


def test_offline_by_environment(cli: Cli, cached: dict) -> None:
    result = cli("versions", env={"KUBEFERRY_OFFLINE": "1"})
    assert result.code == 0, result.stderr
    assert "v1.33.3+k3s1" in result.stdout and "v1.32.7+k3s1" not in result.stdout
    assert "not in catalog" in result.stdout  # v1.99.0 is cached but unlisted


def test_broken_catalog_falls_back_to_the_default_and_is_left_alone(cli: Cli) -> None:
    path = _catalog(cli, '{"cacheVersion": 1, "versions": ["v1.30.6+k3s1"]}')
    before = path.read_bytes()
    result = cli("versions", "--json")
    assert result.code == 0
    assert "cacheVersion 1" in result.stderr and str(path) in result.stderr
    assert "embedded default" in result.stderr
    assert result.json()["catalog"] == "embedded default"
    assert path.read_bytes() == before


def test_a_valid_cache_catalog_is_used(cli: Cli) -> None:
    _catalog(
        cli, '{"cacheVersion": 2, "versions": ["v1.30.6+k3s1"], "channels": {"stable": "1.30.6"}}'
    )
    result = cli("versions", "--json")
    assert result.code == 0, result.stderr
    assert [r["tag"] for r in result.json()["versions"]] == ["v1.30.6+k3s1"]


def test_offline_with_an_empty_cache_says_what_to_do(cli: Cli) -> None:
    result = cli("versions", "--offline")
    assert result.code == 0
    assert "no verified version" in result.stdout and "bundle install" in result.stdout


def test_versions_says_which_kubectl_covers_each(cli: Cli, cached: dict) -> None:
    local = cli.home / ".kuberlr" / "linux-amd64"
    local.mkdir(parents=True)
    (local / "kubectl1.32.4").write_text("")  # a name is all the listing reads
    rows = cli("--offline", "versions", "--json", env={"KUBERLR_SYSTEMPATH": "/nonexistent"})
    kubectl = {r["tag"]: r["kubectl"] for r in rows.json()["versions"]}
    assert kubectl == {"v1.99.0+k3s1": None, "v1.33.3+k3s1": "1.32.4"}
