"""Readiness analysis over what was found (no disk, no network)."""

from __future__ import annotations

from pathlib import Path

from kubeferry.core.versions import KubeVersion, parse_k3s_tag
from kubeferry.doctor import Inputs, diagnose
from kubeferry.stores.cache import CachedVersion, Problem, State
from kubeferry.stores.kubectls import LocalKubectl


def cached(tag: str, state: State = State.OK) -> CachedVersion:
    parsed = parse_k3s_tag(tag)
    assert parsed is not None
    problems = () if state is State.OK else (Problem("k3s", "k3s is missing"),)
    return CachedVersion(parsed, "amd64", Path("/c") / tag, state, "x.tar.zst", 1, problems)


def kubectl(version: str) -> LocalKubectl:
    major, minor, patch = map(int, version.split("."))
    return LocalKubectl(KubeVersion(major, minor, patch), Path(f"/k/kubectl{version}"), False)


def inputs(versions: list[CachedVersion], kubectls: list[LocalKubectl], **extra: object) -> Inputs:
    values = {
        "target": "linux-amd64",
        "catalog_source": "c",
        "catalog_problem": None,
        "listed_tags": frozenset(str(v.tag) for v in versions),
        "cached": tuple(versions),
        "kubectls": tuple(kubectls),
        "allow_download": False,
        "offline": True,
    }
    values.update(extra)
    return Inputs(**values)  # type: ignore[arg-type]


def test_ready_when_every_version_has_a_kubectl() -> None:
    report = diagnose(inputs([cached("v1.30.6+k3s1"), cached("v1.32.3+k3s1")], [kubectl("1.31.9")]))
    assert report.ready and not report.fixes
    assert [v.kubectl.version.short for v in report.versions if v.kubectl] == ["1.31.9"] * 2


def test_gaps_give_the_fewest_kubectls_and_the_command() -> None:
    report = diagnose(
        inputs(
            [
                cached("v1.25.16+k3s4"),
                cached("v1.27.1+k3s1"),
                cached("v1.29.1+k3s1"),
                cached("v1.33.2+k3s1"),
            ],
            [kubectl("1.33.9")],
            option_flags=" --os windows",
        )
    )
    assert not report.ready
    assert report.missing_minors == [(1, 26), (1, 29)]
    assert "no kubectl fits k3s 1.25, 1.27, 1.29 (linux-amd64)" in report.problems
    assert "kubeferry kubectl get 1.26 1.29 --os windows" in report.fixes[-1]


def test_corrupt_unlisted_and_empty() -> None:
    bad = cached("v1.30.6+k3s1", State.CORRUPT)
    report = diagnose(inputs([bad], [kubectl("1.30.1")], listed_tags=frozenset()))
    assert any("corrupt" in p for p in report.problems)
    assert any("not in the catalog" in p for p in report.problems)
    assert any("cache verify --repair" in f for f in report.fixes)
    assert not diagnose(inputs([], [])).ready


def test_allow_download_while_offline_is_a_warning() -> None:
    report = diagnose(inputs([cached("v1.30.6+k3s1")], [kubectl("1.30.1")], allow_download=True))
    assert report.ready
    assert any("AllowDownload" in w for w in report.warnings)
