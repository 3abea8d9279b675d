"""Offline readiness (pure): what the cache and the kuberlr folder hold, and what is missing.

Takes what `cache.py`, `kubectls.py` and the kuberlr configuration found and returns findings,
the kubectl minors that close every gap (the fewest, by the same covering rule as bundles) and
the exact commands that fix each problem on a connected machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kubeferry.core.skew import choose, covering_minors
from kubeferry.stores.cache import CachedVersion, State
from kubeferry.stores.leftovers import Leftover

if TYPE_CHECKING:
    from kubeferry.stores.kubectls import LocalKubectl
    from kubeferry.targets.registries import RegistriesCheck


@dataclass(frozen=True)
class VersionReadiness:
    """One cached k3s version: its state and the kubectl that would serve it."""

    cached: CachedVersion
    listed: bool
    kubectl: LocalKubectl | None


@dataclass(frozen=True)
class Inputs:
    """What the I/O side found."""

    target: str
    catalog_source: str
    catalog_problem: str | None
    listed_tags: frozenset[str]
    cached: tuple[CachedVersion, ...]
    kubectls: tuple[LocalKubectl, ...]
    allow_download: bool
    offline: bool
    option_flags: str = ""
    registries: tuple[RegistriesCheck, ...] = ()
    leftovers: tuple[Leftover, ...] = ()


@dataclass
class Report:
    """The verdict, findings a person reads at a glance, and the fixes."""

    versions: list[VersionReadiness]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_minors: list[tuple[int, int]] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """True when nothing is missing for working offline."""
        return not self.problems


def fitting_kubectl(
    cached: CachedVersion, kubectls: tuple[LocalKubectl, ...]
) -> LocalKubectl | None:
    """The kubectl the wrapper would pick for this version, if any fits."""
    binaries = [
        ((k.version.major, k.version.minor, k.version.patch or 0), str(k.path)) for k in kubectls
    ]
    tag = cached.tag
    found = choose((tag.major, tag.minor, tag.patch), binaries)
    if found is None:
        return None
    return next(k for k in kubectls if str(k.path) == found[1])


def diagnose(inputs: Inputs) -> Report:
    """Every finding, and the smallest set of kubectl minors that closes every gap."""
    versions = [
        VersionReadiness(c, str(c.tag) in inputs.listed_tags, fitting_kubectl(c, inputs.kubectls))
        for c in inputs.cached
    ]
    report = Report(versions)
    flags = inputs.option_flags
    if inputs.catalog_problem:
        report.warnings.append(inputs.catalog_problem)
    _registries_findings(inputs, report)
    if not versions:
        report.problems.append(
            "no k3s version is cached: Rancher Desktop cannot start Kubernetes offline"
        )
        report.fixes.append(
            f"on a connected machine: kubeferry bundle create DIR --k3s stable"
            f"{flags}; here: kubeferry bundle install DIR{flags}"
        )
    for item in versions:
        tag = item.cached.tag
        if item.cached.state is not State.OK:
            files = ", ".join(item.cached.bad_files)
            report.problems.append(
                f"{tag} ({item.cached.arch}) is {item.cached.state.value}: {files}"
            )
            report.fixes.append(
                f"online: kubeferry cache verify --repair{flags} (or bring "
                f"{files} of {tag} from a connected machine)"
            )
        if not item.listed:
            report.problems.append(
                f"{tag} is cached but not in the catalog ({inputs.catalog_source})"
                ": Rancher Desktop will not offer it"
            )
            report.fixes.append(f"kubeferry cache add {tag}{flags} (adds it to the catalog)")
    gaps = sorted({item.cached.tag.minor_key for item in versions if item.kubectl is None})
    report.missing_minors = covering_minors(gaps)
    if gaps:
        shown = ", ".join(f"{m[0]}.{m[1]}" for m in gaps)
        report.problems.append(f"no kubectl fits k3s {shown} ({inputs.target})")
        wanted = " ".join(f"{m[0]}.{m[1]}" for m in report.missing_minors)
        report.fixes.append(
            f"on a connected machine: kubeferry kubectl get {wanted}{flags}, "
            f"then copy those files into the same folder here"
        )
    _leftover_findings(inputs, report)
    if inputs.allow_download and inputs.offline:
        report.warnings.append(
            "kuberlr's AllowDownload is true while offline: when no local "
            "kubectl fits, kuberlr tries the network and exits 255; set "
            "AllowDownload = false in ~/.kuberlr/kuberlr.conf"
        )
    return report


def _registries_findings(inputs: Inputs, report: Report) -> None:
    for check in inputs.registries:
        for problem in check.problems:
            report.problems.append(f"{check.path}: {problem}")
        if check.problems:
            report.fixes.append(
                f"kubeferry registries write --mirror REGISTRY{inputs.option_flags} (rewrites "
                f"kubeferry's entry in {check.path}; keeps the rest)"
            )


def _leftover_findings(inputs: Inputs, report: Report) -> None:
    for item in inputs.leftovers:
        report.warnings.append(
            f"{item.kind} {item.path} ({item.size} bytes) was left by an interrupted run: "
            f"resume with '{item.resume}', or remove it with "
            f"'kubeferry cache clean{inputs.option_flags}'"
        )
