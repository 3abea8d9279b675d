"""The kubectl covering-set planner and the manifest's distrust of paths."""

from __future__ import annotations

import json

import pytest

from kubeferry.bundle.manifest import classify, parse_manifest
from kubeferry.bundle.plan import kubectl_minors
from kubeferry.core.skew import covering_minors
from kubeferry.core.versions import parse_k3s_tag
from kubeferry.errors import ManifestError, UnsafePathError


def minors(*values: int) -> list[tuple[int, int]]:
    return [(1, v) for v in values]


@pytest.mark.parametrize(
    ("servers", "kubectls"),
    [
        (minors(21, 22, 23), minors(22)),
        (minors(31, 33), minors(32)),
        (minors(30), minors(30)),
        (minors(30, 31), minors(31)),
        (minors(25, 26, 27, 28, 29, 30, 31, 32, 33), minors(26, 29, 32)),
        (minors(25, 29), minors(25, 29)),
        (minors(25, 27, 29), minors(26, 29)),
        (minors(33, 31, 31), minors(32)),
        ([], []),
        ([(1, 30), (2, 0)], [(1, 30), (2, 0)]),
    ],
    ids=[
        "three-in-a-row",
        "gap-of-one",
        "single",
        "adjacent",
        "nine-minors",
        "far-apart",
        "odd-spread",
        "unsorted-duplicates",
        "none",
        "two-majors",
    ],
)
def test_covering_minors(servers: list[tuple[int, int]], kubectls: list[tuple[int, int]]) -> None:
    chosen = covering_minors(servers)
    assert chosen == kubectls
    for major, minor in servers:  # every server minor is within one minor of a chosen kubectl
        assert any(m == major and abs(k - minor) <= 1 for m, k in chosen)


def test_kubectl_modes() -> None:
    tags = [t for t in map(parse_k3s_tag, ["v1.31.2+k3s1", "v1.33.1+k3s1", "v1.33.2+k3s1"]) if t]
    assert kubectl_minors("auto", tags) == [(1, 32)]
    assert kubectl_minors("exact", tags) == [(1, 31), (1, 33)]
    assert kubectl_minors("none", tags) == []


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "/etc/passwd",
        "k3s/../../x",
        "C:/x",
        "k3s\\v1.30.6+k3s1\\k3s",
        "./k3s-versions.json",
        "k3s//k3s",
        "k3s/v1.30.6+k3s1/evil.sh",
        "k3s/tmp-v1.30.6+k3s1-x/k3s",
        "kuberlr/linux-amd64/kubectl1.30.6.exe",
        "kuberlr/windows-amd64/kubectl1.30.6",
        "kuberlr/linux-amd64/bash",
        "kuberlr/plan9-amd64/kubectl1.30.6",
        "",
    ],
    ids=[
        "dotdot",
        "absolute",
        "inner-dotdot",
        "drive",
        "backslash",
        "dot",
        "empty-part",
        "unknown-asset",
        "tmp-folder",
        "exe-on-linux",
        "no-exe-on-windows",
        "not-kubectl",
        "unknown-os",
        "empty",
    ],
)
def test_unsafe_or_unknown_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePathError, match="refused"):
        classify(path, source="kubeferry-bundle.json")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("k3s-versions.json", "catalog"),
        ("k3s/v1.30.6+k3s1/k3s-arm64", "k3s"),
        ("k3s/v1.30.6+k3s1/k3s-airgap-images-amd64.tar.zst", "k3s"),
        ("kuberlr/windows-amd64/kubectl1.31.9.exe", "kubectl"),
        ("kuberlr/darwin-arm64/kubectl1.31.9", "kubectl"),
    ],
    ids=["catalog", "arm64-binary", "images", "windows-kubectl", "darwin-kubectl"],
)
def test_known_paths(path: str, kind: str) -> None:
    assert classify(path, source="m").kind == kind


def _manifest(files: list[dict]) -> str:
    return json.dumps({"kind": "kubeferry-bundle", "format": 1, "files": files})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "not valid JSON"),
        ('{"kind": "x"}', "not a kubeferry bundle"),
        ('{"kind": "kubeferry-bundle", "format": 9}', "format 9"),
        (_manifest([]), "lists no files"),
        (_manifest([{"path": "k3s-versions.json", "size": 1, "sha256": "zz"}]), "64-hex"),
        (_manifest([{"path": "k3s-versions.json", "size": 1, "sha256": "a" * 64}] * 2), "twice"),
    ],
    ids=["malformed", "wrong-kind", "future-format", "empty", "bad-digest", "duplicate"],
)
def test_manifest_errors(text: str, words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        parse_manifest(text, source="b/kubeferry-bundle.json")
