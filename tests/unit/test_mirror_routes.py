"""The mirror's route table and generated documents (pure: bundles as records, no disk)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeferry.catalog.rules import Catalog
from kubeferry.core.versions import parse_k3s_tag
from kubeferry.errors import MirrorError
from kubeferry.mirror import documents
from kubeferry.mirror.routes import (
    Bundle,
    BundleEntry,
    DigestRoute,
    FileRoute,
    RedirectRoute,
    ReleasesRoute,
    TextRoute,
    build_routes,
    route_path,
)

BASE = "http://mirror:8080"
DL = "/github.com/k3s-io/k3s/releases/download"


def _k3s(folder: str, tag: str, asset: str, sha: str = "a" * 64) -> BundleEntry:
    return BundleEntry(Path(folder), f"k3s/{tag}/{asset}", "k3s", 10, sha, tag=tag, asset=asset)


def _kubectl(folder: str, version: str, os_name: str = "linux") -> BundleEntry:
    name = f"kubectl{version}" + (".exe" if os_name == "windows" else "")
    return BundleEntry(
        Path(folder),
        f"kuberlr/{os_name}-amd64/{name}",
        "kubectl",
        20,
        "b" * 64,
        version=version,
        os=os_name,
        arch="amd64",
    )


def _bundle(folder: str, *entries: BundleEntry, created: str = "2026-01-01", **channels: str):
    tags = [parse_k3s_tag(e.tag) for e in entries if e.tag]
    catalog = Catalog(
        tuple(sorted(set(tags))), {k.replace("_", "."): v for k, v in channels.items()}
    )
    return Bundle(Path(folder), created, entries, catalog)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/dl.k8s.io/release/stable.txt", "/dl.k8s.io/release/stable.txt"),
        (f"{DL}/v1.32.3%2Bk3s1/k3s", f"{DL}/v1.32.3+k3s1/k3s"),
        (f"{DL}/v1.32.3+k3s1/k3s?x=1", f"{DL}/v1.32.3+k3s1/k3s"),
        ("/dl.k8s.io/../etc/passwd", None),
        ("/dl.k8s.io/%2e%2e/etc/passwd", None),
        ("/dl.k8s.io/..%2fetc/passwd", None),
        ("/dl.k8s.io/./stable.txt", None),
        ("/dl.k8s.io//stable.txt", None),
        ("/a/%00", None),
        ("/a%5cb", None),
        ("/%ff", None),
        ("relative", None),
    ],
    ids=[
        "plain",
        "encoded-plus",
        "query-dropped",
        "dotdot",
        "encoded-dotdot",
        "encoded-slash-dotdot",
        "dot",
        "empty-part",
        "nul",
        "backslash",
        "not-utf8",
        "relative",
    ],
)
def test_route_path(raw: str, expected: str | None) -> None:
    assert route_path(raw) == expected


def test_routes_cover_the_upstream_layouts() -> None:
    bundle = _bundle(
        "/b1",
        _k3s("/b1", "v1.32.3+k3s1", "k3s"),
        _k3s("/b1", "v1.30.6+k3s1", "k3s"),
        _kubectl("/b1", "1.31.9"),
        _kubectl("/b1", "1.31.2"),
        _kubectl("/b1", "1.32.5", "windows"),
        stable="1.32.3",
        v1_30="1.30.6",
        v1_31="1.31.4",  # not bundled: left out rather than redirecting to a 404
    )
    table = build_routes([bundle], BASE + "/")
    routes = table.routes
    assert isinstance(routes[f"{DL}/v1.32.3+k3s1/k3s"], FileRoute)
    kubectl = "/dl.k8s.io/release/v1.31.9/bin/linux/amd64/kubectl"
    assert isinstance(routes[kubectl], FileRoute) and routes[kubectl].executable
    assert routes[kubectl + ".sha512"] == DigestRoute(routes[kubectl], "sha512")
    assert "/dl.k8s.io/release/v1.32.5/bin/windows/amd64/kubectl.exe" in routes
    assert routes["/dl.k8s.io/release/stable.txt"] == TextRoute(
        b"v1.32.5", "text/plain; charset=utf-8"
    )
    assert routes["/dl.k8s.io/release/stable-1.31.txt"].body == b"v1.31.9"
    assert routes["/update.k3s.io/v1-release/channels/v1.30"] == RedirectRoute(
        "/github.com/k3s-io/k3s/releases/tag/v1.30.6+k3s1"
    )
    assert "/update.k3s.io/v1-release/channels/v1.31" not in routes
    collection = json.loads(routes["/update.k3s.io/v1-release/channels"].body)
    assert [item["name"] for item in collection["data"]] == ["stable", "v1.30"]
    assert collection["links"]["self"] == f"{BASE}/update.k3s.io/v1-release/channels"
    releases = routes["/api.github.com/repos/k3s-io/k3s/releases"]
    assert isinstance(releases, ReleasesRoute)
    assert [r["tag_name"] for r in releases.releases] == ["v1.32.3+k3s1", "v1.30.6+k3s1"]
    assert releases.releases[0]["assets"][0]["browser_download_url"] == (
        f"{BASE}{DL}/v1.32.3%2Bk3s1/k3s"
    )
    assert b"KUBEFERRY_MIRROR=" + BASE.encode() in routes["/"].body


def test_bundles_merge_and_the_newest_bundles_channels_win() -> None:
    old = _bundle("/old", _k3s("/old", "v1.30.6+k3s1", "k3s"), stable="1.30.6", created="2025")
    new = _bundle(
        "/new",
        _k3s("/new", "v1.30.6+k3s1", "k3s"),  # same bytes: fine
        _k3s("/new", "v1.32.3+k3s1", "k3s"),
        stable="1.32.3",
        created="2026",
    )
    table = build_routes([new, old], BASE)
    assert str(table.channels["stable"]) == "v1.32.3+k3s1"
    assert f"{DL}/v1.30.6+k3s1/k3s" in table.routes and f"{DL}/v1.32.3+k3s1/k3s" in table.routes


def test_same_path_other_bytes_names_both_bundles() -> None:
    first = _bundle("/first", _k3s("/first", "v1.30.6+k3s1", "k3s", "a" * 64))
    second = _bundle("/second", _k3s("/second", "v1.30.6+k3s1", "k3s", "c" * 64))
    with pytest.raises(MirrorError) as caught:
        build_routes([first, second], BASE)
    message = str(caught.value)
    assert "/first" in message and "/second" in message and "different bytes" in message


@pytest.mark.parametrize(
    ("query", "expected"),
    [({}, (1, 30)), ({"per_page": "500", "page": "2"}, (2, 100)), ({"page": "x"}, (1, 30))],
    ids=["defaults", "capped-at-100", "bad-page"],
)
def test_page_numbers(query: dict[str, str], expected: tuple[int, int]) -> None:
    assert documents.page_numbers(query) == expected


def test_releases_page_links() -> None:
    entries = [{"tag_name": str(n)} for n in range(5)]
    body, link = documents.releases_page(entries, "http://m/r", 1, 2)
    assert [e["tag_name"] for e in json.loads(body)] == ["0", "1"]
    assert link is not None and '<http://m/r?per_page=2&page=2>; rel="next"' in link
    assert 'page=3>; rel="last"' in link
    body, link = documents.releases_page(entries, "http://m/r", 3, 2)
    assert [e["tag_name"] for e in json.loads(body)] == ["4"]
    assert link is not None and "next" not in link and 'rel="prev"' in link


def test_install_scripts_are_served_at_their_tag_and_the_newest_at_get_k3s_io() -> None:
    newer, older = "v1.32.3+k3s1", "v1.30.6+k3s1"
    bundle = _bundle(
        "/b",
        _k3s("/b", older, "install.sh", "1" * 64),
        _k3s("/b", older, "k3s"),
        _k3s("/b", newer, "install.sh", "2" * 64),
        _k3s("/b", newer, "k3s"),
        _k3s("/b", newer, "k3s-airgap-images-amd64.tar.zst"),
        stable=newer[1:].split("+")[0],
    )
    table = build_routes([bundle], BASE)
    script = "/raw.githubusercontent.com/k3s-io/k3s"
    for tag, digest in ((older, "1" * 64), (newer, "2" * 64)):
        route = table.routes[f"{script}/{tag}/install.sh"]
        assert isinstance(route, FileRoute) and route.sha256 == digest and not route.executable
        assert isinstance(table.routes[f"{script}/{tag}/install.sh.sha256"], DigestRoute)
        assert f"{DL}/{tag}/install.sh" not in table.routes  # not a release asset
    newest = table.routes["/get.k3s.io/"]
    assert isinstance(newest, FileRoute) and newest.sha256 == "2" * 64
    releases = table.routes["/api.github.com/repos/k3s-io/k3s/releases"]
    assert isinstance(releases, ReleasesRoute)
    assert all(a["name"] != "install.sh" for r in releases.releases for a in r["assets"])
    page = table.routes["/"]
    assert isinstance(page, TextRoute)
    text = page.body.decode()
    assert (
        f"curl -sfL {BASE}/get.k3s.io/ | GITHUB_URL={BASE}/github.com/k3s-io/k3s/releases "
        f"INSTALL_K3S_CHANNEL_URL={BASE}/update.k3s.io/v1-release/channels sh -"
    ) in text
    assert f"{DL}/v1.32.3%2Bk3s1/k3s-airgap-images-amd64.tar.zst" in text
    assert "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst" in text


def test_without_an_install_script_there_is_no_get_k3s_io() -> None:
    table = build_routes([_bundle("/b", _k3s("/b", "v1.32.3+k3s1", "k3s"))], BASE)
    assert "/get.k3s.io/" not in table.routes
    page = table.routes["/"]
    assert isinstance(page, TextRoute) and b"get.k3s.io" not in page.body
