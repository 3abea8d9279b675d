"""`kubeferry catalog update|convert` against a real local server and saved upstream JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, Cli
from tests.support.upstream import LocalUpstream, UpstreamState

CHANNELS = DATA / "channels.json"
RELEASES = DATA / "releases.json"


@pytest.fixture
def upstream(upstream_channels: dict[str, Any], upstream_releases: list[Any]) -> LocalUpstream:
    state = UpstreamState(channels=upstream_channels, releases=upstream_releases)
    with LocalUpstream(state) as server:
        yield server


def test_convert_saved_upstream_equals_rancher_desktops_catalog(
    cli: Cli, tmp_path: Path, expected_catalog: dict[str, Any]
) -> None:
    out = tmp_path / "out.json"
    result = cli(
        "catalog",
        "convert",
        "--channels",
        str(CHANNELS),
        "--releases",
        str(RELEASES),
        "-o",
        str(out),
    )
    assert result.code == 0, result.stderr
    assert json.loads(out.read_text()) == expected_catalog


def test_convert_to_stdout_and_pages_split_over_files(
    cli: Cli, tmp_path: Path, upstream_releases: list[Any], expected_catalog: dict[str, Any]
) -> None:
    first, second = tmp_path / "p1.json", tmp_path / "p2.json"
    first.write_text(json.dumps([upstream_releases[:100], upstream_releases[100:200]]))
    second.write_text(json.dumps(upstream_releases[200:]))
    result = cli(
        "catalog",
        "convert",
        "--channels",
        str(CHANNELS),
        "--releases",
        str(first),
        "--releases",
        str(second),
        "-o",
        "-",
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == expected_catalog


def test_update_pages_through_releases_after_a_rate_limit(
    cli: Cli, upstream: LocalUpstream, expected_catalog: dict[str, Any]
) -> None:
    upstream.state.rate_limit_first = 1
    result = cli("catalog", "update", "--json", env={**upstream.environ(), "GITHUB_TOKEN": "t0k"})
    assert result.code == 0, result.stderr
    written = json.loads((cli.cache_dir / "k3s-versions.json").read_text())
    assert written == expected_catalog
    release_requests = [
        (path, headers)
        for _, path, headers in upstream.state.requests
        if path.startswith("/repos/")
    ]
    # one 403, then 5 pages of 100 (418 releases), each following the Link header
    assert len(release_requests) == 6
    assert all("per_page=100" in path for path, _ in release_requests)
    assert release_requests[-1][0].endswith("page=5")
    assert all(h.get("Authorization") == "Bearer t0k" for _, h in release_requests)
    assert result.json()["versions"] == 116


def test_update_keeps_cached_versions_and_adds_unlisted_ones(
    cli: Cli, upstream: LocalUpstream
) -> None:
    for tag in ("v1.30.6+k3s1", "v1.24.9+k3s1", "v1.99.0+k3s7"):
        (cli.cache_dir / "k3s" / tag).mkdir(parents=True)
    result = cli("catalog", "update", env=upstream.environ())
    assert result.code == 0, result.stderr
    versions = json.loads((cli.cache_dir / "k3s-versions.json").read_text())["versions"]
    # upstream lists v1.30.6+k3s2: the cached build wins so the catalog names a real folder
    assert "v1.30.6+k3s1" in versions and "v1.30.6+k3s2" not in versions
    assert versions[-1] == "v1.99.0+k3s7"
    assert "v1.24.9+k3s1" not in versions  # below the minimum: Rancher Desktop would drop it


def _existing_catalog(cli: Cli) -> bytes:
    path = cli.cache_dir / "k3s-versions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    content = b'{\n  "cacheVersion": 2,\n  "versions": ["v1.30.6+k3s1"],\n  "channels": {}\n}\n'
    path.write_bytes(content)
    return content


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (
            lambda s: setattr(s, "releases_body", b"<html><body>Unicorn!</body></html>"),
            ["did not answer JSON", "<html>", "/repos/k3s-io/k3s/releases"],
        ),
        (
            lambda s: setattr(s, "releases_status", 503),
            ["HTTP 503", "/repos/k3s-io/k3s/releases", "left untouched"],
        ),
        (
            lambda s: setattr(s, "channels_body", b"<!DOCTYPE html>"),
            ["did not answer JSON", "/v1-release/channels"],
        ),
        (
            lambda s: (setattr(s, "rate_limit_first", 1), setattr(s, "rate_limit_reset_in", 3600)),
            ["rate limit", "resets at", "GITHUB_TOKEN", "untouched"],
        ),
    ],
    ids=["html-body", "503", "channels-html", "rate-limit-far-away"],
)
def test_update_bad_answers_leave_the_file_untouched(
    cli: Cli, upstream: LocalUpstream, setup: Any, words: list[str]
) -> None:
    before = _existing_catalog(cli)
    setup(upstream.state)
    result = cli("catalog", "update", env=upstream.environ())
    assert result.code == 1
    assert result.stderr.startswith("kubeferry: error:")
    for word in words:
        assert word in result.stderr
    assert (cli.cache_dir / "k3s-versions.json").read_bytes() == before
    assert "Traceback" not in result.stderr


def test_update_against_a_dead_server(cli: Cli) -> None:
    before = _existing_catalog(cli)
    dead = "http://127.0.0.1:9/v1-release/channels"
    result = cli("catalog", "update", env={"KUBEFERRY_K3S_CHANNELS_URL": dead})
    assert result.code == 1
    assert "could not be reached" in result.stderr and dead in result.stderr
    assert (cli.cache_dir / "k3s-versions.json").read_bytes() == before


def test_update_offline_touches_nothing(cli: Cli, upstream: LocalUpstream) -> None:
    result = cli("--offline", "catalog", "update", env=upstream.environ())
    assert result.code == 1
    assert "offline" in result.stderr
    assert upstream.state.requests == []


@pytest.mark.parametrize(
    ("content", "words"),
    [("{broken", "not valid JSON"), ('{"resourceType": "nope"}', "not a k3s channel list")],
    ids=["malformed-json", "wrong-document"],
)
def test_convert_bad_channels_file(cli: Cli, tmp_path: Path, content: str, words: str) -> None:
    channels = tmp_path / "channels.json"
    channels.write_text(content)
    out = tmp_path / "out.json"
    out.write_text("keep me")
    result = cli(
        "catalog",
        "convert",
        "--channels",
        str(channels),
        "--releases",
        str(RELEASES),
        "-o",
        str(out),
    )
    assert result.code == 1
    assert words in result.stderr and str(channels) in result.stderr
    assert out.read_text() == "keep me"


def test_convert_malformed_releases_file(cli: Cli, tmp_path: Path) -> None:
    releases = tmp_path / "releases.json"
    releases.write_text('[{"tag_name": "v1.30.6+k3s1"')
    result = cli("catalog", "convert", "--channels", str(CHANNELS), "--releases", str(releases))
    assert result.code == 1
    assert "not valid JSON" in result.stderr and str(releases) in result.stderr
    assert not (cli.cache_dir / "k3s-versions.json").exists()


def test_missing_required_option_is_a_usage_error(cli: Cli) -> None:
    result = cli("catalog", "convert", "--channels", str(CHANNELS))
    assert result.code == 2
    assert "--releases" in result.stderr
