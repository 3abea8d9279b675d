"""`kubeferry cache add|list|verify|remove` against a local k3s release server."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.k3s import ReleaseFiles, release_files, serve_release
from tests.support.upstream import Fault, LocalUpstream

STABLE = "v1.33.3+k3s1"  # `stable` in the embedded catalog
V130 = "v1.30.14+k3s2"  # the newest 1.30 patch there


@pytest.fixture
def releases() -> dict[tuple[str, str], ReleaseFiles]:
    return {
        (STABLE, "amd64"): release_files(STABLE, "amd64"),
        (STABLE, "arm64"): release_files(STABLE, "arm64"),
        (V130, "amd64"): release_files(V130, "amd64", with_zst=False),
    }


@pytest.fixture
def server(releases: dict[tuple[str, str], ReleaseFiles]) -> LocalUpstream:
    with LocalUpstream() as up:
        for release in releases.values():
            serve_release(up.state.files, release)
        yield up


def _folder(cli: Cli, tag: str) -> Path:
    return cli.cache_dir / "k3s" / tag


def test_add_a_channel_and_a_minor_for_two_arches(
    cli: Cli, server: LocalUpstream, releases: dict
) -> None:
    result = cli(
        "cache",
        "add",
        "stable",
        "--arch",
        "amd64",
        "--arch",
        "arm64",
        "--json",
        env=server.environ(),
    )
    assert result.code == 0, result.stderr
    folder = _folder(cli, STABLE)
    for arch in ("amd64", "arm64"):
        files = releases[(STABLE, arch)]
        names = {files.assets.binary, files.assets.sums, files.assets.images[0]}
        for name in names:
            assert (folder / name).read_bytes() == files.files[name]
    assert not (folder / "k3s-airgap-images-amd64.tar").exists()  # .tar.zst preferred
    assert os.access(folder / "k3s", os.X_OK)
    assert [p.name for p in (cli.cache_dir / "k3s").iterdir()] == [STABLE]  # no tmp- left

    listing = cli("cache", "list", "--json", "--arch", "amd64,arm64")
    states = {(v["tag"], v["arch"]): (v["state"], v["images"]) for v in listing.json()["versions"]}
    assert states == {(STABLE, "amd64"): ("ok", "tar.zst"), (STABLE, "arm64"): ("ok", "tar.zst")}


def test_add_falls_back_to_tar_when_tar_zst_is_404(
    cli: Cli, server: LocalUpstream, releases: dict
) -> None:
    result = cli("cache", "add", "1.30", env=server.environ())
    assert result.code == 0, result.stderr
    files = releases[(V130, "amd64")]
    tar = _folder(cli, V130) / "k3s-airgap-images-amd64.tar"
    assert tar.read_bytes() == files.files["k3s-airgap-images-amd64.tar"]
    assert cli("cache", "verify").code == 0


def test_second_add_downloads_nothing(cli: Cli, server: LocalUpstream) -> None:
    assert cli("cache", "add", STABLE, env=server.environ()).code == 0
    before = dict(server.state.bytes_sent)
    again = cli("cache", "add", "1.33.3", "--json", env=server.environ())
    assert again.code == 0
    assert again.json()["versions"][0]["already_cached"] is True
    assert dict(server.state.bytes_sent) == before


def test_wrong_digest_leaves_no_version_folder(cli: Cli, server: LocalUpstream) -> None:
    server.state.faults[f"/k3s/{STABLE}/k3s"] = Fault(flip_byte_at=10)
    result = cli("cache", "add", STABLE, env=server.environ())
    assert result.code == 1
    assert f"/k3s/{STABLE}/k3s has sha256" in result.stderr and "expected" in result.stderr
    assert not _folder(cli, STABLE).exists()


def test_sums_file_that_does_not_list_the_binary(
    cli: Cli, server: LocalUpstream, releases: dict
) -> None:
    files = releases[(STABLE, "amd64")]
    lines = [
        line
        for line in files.files["sha256sum-amd64.txt"].decode().splitlines()
        if not line.endswith("  k3s")
    ]
    server.state.files[f"/k3s/{STABLE}/sha256sum-amd64.txt"] = ("\n".join(lines) + "\n").encode()
    result = cli("cache", "add", STABLE, env=server.environ())
    assert result.code == 1
    assert "sha256sum-amd64.txt does not list k3s" in result.stderr
    assert not _folder(cli, STABLE).exists()


def test_unknown_spec_names_the_catalog(cli: Cli, server: LocalUpstream) -> None:
    result = cli("cache", "add", "1.12", env=server.environ())
    assert result.code == 1
    assert "'1.12' is not a k3s tag" in result.stderr and "embedded default" in result.stderr


def test_corrupt_file_is_named_and_repaired(
    cli: Cli, server: LocalUpstream, releases: dict
) -> None:
    assert cli("cache", "add", STABLE, env=server.environ()).code == 0
    images = _folder(cli, STABLE) / "k3s-airgap-images-amd64.tar.zst"
    good = images.read_bytes()
    images.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    result = cli("cache", "verify", "--json")
    assert result.code == 1
    problem = result.json()["versions"][0]["problems"][0]
    assert problem["file"] == "k3s-airgap-images-amd64.tar.zst"
    assert problem["expected"] == hashlib.sha256(good).hexdigest()
    assert problem["actual"] == hashlib.sha256(images.read_bytes()).hexdigest()
    text = cli("cache", "verify")
    assert "k3s-airgap-images-amd64.tar.zst has sha256" in text.stdout

    offline = cli("--offline", "cache", "verify", "--repair", env=server.environ())
    assert offline.code == 1
    assert f"{server.url}/k3s/{STABLE}/k3s-airgap-images-amd64.tar.zst" in offline.stderr

    sent_before = dict(server.state.bytes_sent)
    repaired = cli("cache", "verify", "--repair", env=server.environ())
    assert repaired.code == 0, repaired.stderr + repaired.stdout
    assert images.read_bytes() == good
    delta = {
        p: n - sent_before.get(p, 0)
        for p, n in server.state.bytes_sent.items()
        if n != sent_before.get(p, 0)
    }
    assert delta == {f"/k3s/{STABLE}/k3s-airgap-images-amd64.tar.zst": len(good)}


def test_missing_sums_file_is_repaired(cli: Cli, server: LocalUpstream) -> None:
    assert cli("cache", "add", STABLE, env=server.environ()).code == 0
    (_folder(cli, STABLE) / "sha256sum-amd64.txt").unlink()
    listing = cli("cache", "list", "--json").json()
    assert listing["versions"][0]["state"] == "incomplete"
    assert cli("cache", "verify", "--repair", env=server.environ()).code == 0
    assert cli("cache", "verify").code == 0


def test_remove(cli: Cli, server: LocalUpstream) -> None:
    assert cli("cache", "add", STABLE, env=server.environ()).code == 0
    assert cli("cache", "remove", STABLE).code == 0
    assert not _folder(cli, STABLE).exists()
    missing = cli("cache", "remove", STABLE)
    assert missing.code == 1 and "is not cached" in missing.stderr


def test_unlisted_tag_is_added_to_the_catalog(cli: Cli, server: LocalUpstream) -> None:
    tag = "v1.99.1+k3s1"
    serve_release(server.state.files, release_files(tag))
    assert cli("cache", "add", tag, env=server.environ()).code == 0
    versions = cli("versions", "--offline", "--json").json()["versions"]
    assert versions[0] == {
        "tag": tag,
        "version": "1.99.1",
        "channels": [],
        "cached": True,
        "listed": True,
        "kubectl": None,
    }


def _settled(server: LocalUpstream, path: str) -> int:
    """The server's byte count once the killed client's connection has stopped moving."""
    last = -1
    while (now := server.state.bytes_sent[path]) != last:
        last = now
        time.sleep(0.3)
    return now


def test_sigkilled_add_resumes_fetching_only_the_remainder(
    cli: Cli, server: LocalUpstream, releases: dict
) -> None:
    tag = "v1.32.7+k3s1"
    files = release_files(tag, images_size=6_000_000)
    serve_release(server.state.files, files)
    images_path = f"/k3s/{tag}/k3s-airgap-images-amd64.tar.zst"
    size = len(files.files["k3s-airgap-images-amd64.tar.zst"])
    server.state.faults[images_path] = Fault(delay_per_chunk=0.01)
    part = cli.cache_dir / "k3s" / f"tmp-{tag}-kubeferry" / ".k3s-airgap-images-amd64.tar.zst.part"
    process = subprocess.Popen(
        [sys.executable, "-m", "kubeferry", "cache", "add", tag],
        env={**cli.env, **server.environ()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < size // 2):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert part.exists(), "the download never reached half way"
    kept = part.stat().st_size
    assert 0 < kept < size
    first_run = _settled(server, images_path)
    server.state.faults.pop(images_path)

    result = cli("cache", "add", tag, env=server.environ())
    assert result.code == 0, result.stderr
    second_run = server.state.bytes_sent[images_path] - first_run
    assert second_run == size - kept
    assert cli("cache", "verify").code == 0


def test_unreadable_catalog_is_kept_aside_when_a_tag_is_added(
    cli: Cli, server: LocalUpstream
) -> None:
    tag = "v1.99.2+k3s1"
    serve_release(server.state.files, release_files(tag))
    catalog = cli.cache_dir / "k3s-versions.json"
    catalog.parent.mkdir(parents=True)
    catalog.write_text('{"cacheVersion": 1}')
    result = cli("cache", "add", tag, env=server.environ())
    assert result.code == 0, result.stderr
    assert "kept as" in result.stdout
    assert (cli.cache_dir / "k3s-versions.json.unreadable").read_text() == '{"cacheVersion": 1}'
    assert tag in json.loads(catalog.read_text())["versions"]
