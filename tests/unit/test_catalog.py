"""Catalog rules (Rancher Desktop's), format and parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubeferry.catalog.file import default_catalog, read_catalog, write_catalog
from kubeferry.catalog.rules import (
    Catalog,
    catalog_to_json,
    convert_upstream,
    merge_catalogs,
    parse_catalog,
    releases_from_pages,
)
from kubeferry.core.versions import KubeVersion, parse_k3s_tag
from kubeferry.errors import CatalogError

ASSETS = ["k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst"]


def release(
    tag: str, *, assets: list[str] | None = None, draft: bool = False, prerelease: bool = False
) -> dict[str, Any]:
    names = ASSETS if assets is None else assets
    return {
        "tag_name": tag,
        "draft": draft,
        "prerelease": prerelease,
        "assets": [{"name": n} for n in names],
    }


def channels(**latest: str) -> dict[str, Any]:
    data = [
        {"type": "channel", "name": name.replace("_", "."), "latest": tag}
        for name, tag in latest.items()
    ]
    return {"resourceType": "channels", "data": data}


def tags(catalog: Catalog) -> list[str]:
    return [str(t) for t in catalog.versions]


def test_saved_upstream_converts_to_rancher_desktops_file(
    upstream_channels: dict[str, Any],
    upstream_releases: list[Any],
    expected_catalog: dict[str, Any],
) -> None:
    catalog = convert_upstream(
        upstream_channels, releases_from_pages(upstream_releases, source="r")
    )
    assert json.loads(catalog_to_json(catalog)) == expected_catalog


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([release("v1.30.6+k3s1"), release("v1.30.6+k3s2")], ["v1.30.6+k3s2"]),
        ([release("v1.30.6+k3s10"), release("v1.30.6+k3s9")], ["v1.30.6+k3s10"]),
        ([release("v1.30.6+k3s1"), release("v1.31.0-rc1+k3s1")], ["v1.30.6+k3s1"]),
        ([release("v1.30.6+k3s1"), release("v1.31.0+k3s1", prerelease=True)], ["v1.30.6+k3s1"]),
        ([release("v1.30.6+k3s1"), release("v1.31.0+k3s1", draft=True)], ["v1.30.6+k3s1"]),
        ([release("v1.25.2+k3s1"), release("v1.25.3+k3s1")], ["v1.25.3+k3s1"]),
        ([release("v1.30.6+k3s1"), release("1.99.3+rk3s1")], ["v1.30.6+k3s1"]),
        ([release("v1.30.10+k3s1"), release("v1.30.9+k3s1")], ["v1.30.9+k3s1", "v1.30.10+k3s1"]),
    ],
    ids=[
        "highest-build",
        "build-10-beats-9",
        "rc-dropped",
        "prerelease-flag-dropped",
        "draft-dropped",
        "below-minimum",
        "not-a-k3s-tag",
        "ascending-numeric",
    ],
)
def test_release_rules(entries: list[dict[str, Any]], expected: list[str]) -> None:
    assert tags(convert_upstream(channels(), entries)) == expected


@pytest.mark.parametrize(
    ("assets", "kept"),
    [
        (ASSETS, True),
        (["k3s-arm64", "sha256sum-arm64.txt", "k3s-airgap-images-arm64.tar"], True),
        (["k3s", "k3s-airgap-images-amd64.tar.zst"], False),
        (["k3s", "sha256sum-amd64.txt"], False),
        (["k3s", "sha256sum-arm64.txt", "k3s-airgap-images-amd64.tar"], False),
        ([], True),
    ],
    ids=[
        "amd64-complete",
        "arm64-complete",
        "no-sums",
        "no-images",
        "mixed-arches",
        "no-asset-list",
    ],
)
def test_assets_check(assets: list[str], kept: bool) -> None:
    catalog = convert_upstream(channels(), [release("v1.30.6+k3s1", assets=assets)])
    assert bool(catalog.versions) is kept


def test_channel_rules() -> None:
    catalog = convert_upstream(
        channels(
            stable="v1.30.6+k3s1",
            latest="v1.31.2+k3s1",
            testing="v1.31.3-rc2+k3s1",
            v1_16="v1.16.15+k3s1",
            v1_30="v1.30.6+k3s1",
            v1_29="v1.29.9+k3s1",
        ),
        [release("v1.30.6+k3s1"), release("v1.31.2+k3s1")],
    )
    # testing is an rc, v1.16 below the minimum, v1.29's version is not listed.
    assert dict(catalog.channels) == {"stable": "1.30.6", "latest": "1.31.2", "v1.30": "1.30.6"}


def test_channel_list_must_be_channels() -> None:
    with pytest.raises(CatalogError, match="resourceType"):
        convert_upstream({"resourceType": "releases", "data": []}, [])


def test_format_is_rancher_desktops() -> None:
    catalog = convert_upstream(channels(stable="v1.30.6+k3s1"), [release("v1.30.6+k3s1")])
    text = catalog_to_json(catalog)
    assert text.endswith("}\n")
    assert list(json.loads(text)) == ["cacheVersion", "versions", "channels"]
    assert '\n  "versions": [\n    "v1.30.6+k3s1"\n  ],' in text


def test_prefer_keeps_the_cached_build() -> None:
    cached = parse_k3s_tag("v1.30.6+k3s1")
    assert cached is not None
    catalog = convert_upstream(channels(), [release("v1.30.6+k3s2")], prefer=[cached])
    assert tags(catalog) == ["v1.30.6+k3s1"]


def test_prefer_adds_unlisted_cached_versions() -> None:
    cached = parse_k3s_tag("v1.29.1+k3s1")
    assert cached is not None
    catalog = convert_upstream(channels(), [release("v1.30.6+k3s1")], prefer=[cached])
    assert tags(catalog) == ["v1.29.1+k3s1", "v1.30.6+k3s1"]


def test_merge_is_a_union_with_newer_channels() -> None:
    old = convert_upstream(channels(stable="v1.29.1+k3s1"), [release("v1.29.1+k3s1")])
    new = convert_upstream(channels(stable="v1.30.6+k3s1"), [release("v1.30.6+k3s1")])
    merged = merge_catalogs(old, new)
    assert tags(merged) == ["v1.29.1+k3s1", "v1.30.6+k3s1"]
    assert merged.channels["stable"] == "1.30.6"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"cacheVersion": 1, "versions": []}', "cacheVersion 1"),
        ("[1, 2]", "cacheVersion None"),
        ('{"cacheVersion": 2, "versions": {}}', "must be a list"),
    ],
    ids=["malformed", "old-cache-version", "not-an-object", "versions-not-list"],
)
def test_parse_catalog_errors(text: str, words: str) -> None:
    with pytest.raises(CatalogError, match=words) as info:
        parse_catalog(text, source="/c/k3s-versions.json")
    assert "/c/k3s-versions.json" in str(info.value)


def test_parse_drops_below_minimum_and_unknown_channels() -> None:
    text = json.dumps(
        {
            "cacheVersion": 2,
            "versions": ["v1.24.1+k3s1", "v1.30.6+k3s1"],
            "channels": {"stable": "1.30.6", "v1.24": "1.24.1"},
        }
    )
    catalog = parse_catalog(text, source="x", minimum=KubeVersion(1, 25, 3))
    assert tags(catalog) == ["v1.30.6+k3s1"]
    assert dict(catalog.channels) == {"stable": "1.30.6"}


def test_write_is_atomic_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "k3s-versions.json"
    catalog = convert_upstream(channels(stable="v1.30.6+k3s1"), [release("v1.30.6+k3s1")])
    write_catalog(path, catalog)
    assert read_catalog(path) == catalog
    assert [p.name for p in path.parent.iterdir()] == ["k3s-versions.json"]


def test_releases_file_may_be_a_list_of_pages() -> None:
    pages = [[release("v1.30.6+k3s1")], [release("v1.29.1+k3s1")]]
    assert len(releases_from_pages(pages, source="p")) == 2


@pytest.mark.parametrize(
    "document",
    [{"tag_name": "x"}, [{"name": "no tag"}], ["a", "b"]],
    ids=["object", "no-tag-name", "strings"],
)
def test_releases_file_errors(document: Any) -> None:
    with pytest.raises(CatalogError, match="releases"):
        releases_from_pages(document, source="saved.json")


def test_embedded_default_is_a_valid_catalog() -> None:
    catalog = default_catalog()
    assert len(catalog.versions) >= 100
    assert catalog.channels["stable"] in {t.short for t in catalog.versions}
