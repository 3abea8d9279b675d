"""k3s tags and Kubernetes versions: parsing, order, skew window."""

from __future__ import annotations

import pytest

from kubeferry.core.skew import preference
from kubeferry.core.versions import (
    KubeVersion,
    is_cache_folder_name,
    parse_k3s_tag,
    parse_kube_version,
)


@pytest.mark.parametrize(
    ("text", "major", "minor", "patch", "pre", "build"),
    [
        ("v1.30.6+k3s1", 1, 30, 6, "", 1),
        ("1.30.6+k3s1", 1, 30, 6, "", 1),
        ("v1.31.3-rc2+k3s1", 1, 31, 3, "rc2", 1),
        ("v1.25.16+k3s10", 1, 25, 16, "", 10),
    ],
    ids=["plain", "no-v", "rc", "two-digit-build"],
)
def test_parse_k3s_tag(text: str, major: int, minor: int, patch: int, pre: str, build: int) -> None:
    tag = parse_k3s_tag(text)
    assert tag is not None
    assert (tag.major, tag.minor, tag.patch, tag.prerelease, tag.build) == (
        major,
        minor,
        patch,
        pre,
        build,
    )


@pytest.mark.parametrize(
    "text",
    ["1.99.3+rk3s1", "v1.30", "v1.30.6", "latest", "v1.30.6+k3s", "v1.30.6-+k3s1", ""],
    ids=str,
)
def test_parse_k3s_tag_rejects(text: str) -> None:
    assert parse_k3s_tag(text) is None


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("v1.30.6+k3s9", "v1.30.6+k3s10"),
        ("v1.30.9+k3s1", "v1.30.10+k3s1"),
        ("v1.31.3-rc2+k3s1", "v1.31.3+k3s1"),
        ("v1.31.3-rc2+k3s1", "v1.31.3-rc10+k3s1"),
        ("v1.31.3-rc1+k3s2", "v1.31.3-rc2+k3s1"),
        ("v1.9.0+k3s1", "v1.10.0+k3s1"),
        ("v1.30.14+k3s3", "v1.31.0+k3s1"),
    ],
    ids=[
        "build-numeric",
        "patch-numeric",
        "rc-below-release",
        "rc-numeric",
        "rc-before-build",
        "minor-numeric",
        "minor-beats-patch",
    ],
)
def test_k3s_tag_order(lower: str, higher: str) -> None:
    low, high = parse_k3s_tag(lower), parse_k3s_tag(higher)
    assert low is not None and high is not None
    assert low < high and high > low and not high < low


def test_short_and_str() -> None:
    tag = parse_k3s_tag("1.31.3-rc2+k3s1")
    assert tag is not None
    assert tag.short == "1.31.3"
    assert str(tag) == "v1.31.3-rc2+k3s1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.30", KubeVersion(1, 30)),
        ("1.30.6", KubeVersion(1, 30, 6)),
        ("v1.30.6", KubeVersion(1, 30, 6)),
        (" v1.9 ", KubeVersion(1, 9)),
    ],
    ids=["minor", "patch", "v-prefix", "spaces"],
)
def test_parse_kube_version(text: str, expected: KubeVersion) -> None:
    assert parse_kube_version(text) == expected


@pytest.mark.parametrize("text", ["1", "1.30.6.1", "stable", "1.30.x"], ids=str)
def test_parse_kube_version_rejects(text: str) -> None:
    assert parse_kube_version(text) is None


def test_kube_version_order_is_numeric() -> None:
    versions = [KubeVersion(1, 30, 10), KubeVersion(1, 30, 9), KubeVersion(1, 4, 0)]
    assert sorted(versions, key=KubeVersion.sort_key) == [
        KubeVersion(1, 4, 0),
        KubeVersion(1, 30, 9),
        KubeVersion(1, 30, 10),
    ]


@pytest.mark.parametrize(
    ("server", "expected"),
    [((1, 30, 6), [(1, 30), (1, 31), (1, 29)]), ((1, 0, 0), [(1, 0), (1, 1)])],
    ids=["own-plus-minus", "minor-zero"],
)
def test_skew_preference(server: tuple[int, int, int], expected: list[tuple[int, int]]) -> None:
    assert preference(server) == expected


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("v1.30.6+k3s1", True),
        ("1.30.6+k3s1", False),
        ("v1.30.6", False),
        ("tmp-v1.30.6+k3s1-AbC", False),
        ("v1.31.3-rc2+k3s1", False),
    ],
    ids=["tag", "no-v", "no-build", "tmp", "rc"],
)
def test_cache_folder_names(name: str, ok: bool) -> None:
    assert is_cache_folder_name(name) is ok
