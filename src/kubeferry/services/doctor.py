"""`doctor` as a service: gather the records, then diagnose them (kubeferry/doctor.py, pure)."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeferry.catalog.file import LoadedCatalog
from kubeferry.core.layouts import K3S_REGISTRIES_PATH, rancher_desktop_provisioning_path
from kubeferry.doctor import Inputs, Report, diagnose
from kubeferry.services.common import catalog_in_use, kuberlr_config
from kubeferry.settings import Settings
from kubeferry.stores.cache import list_cached
from kubeferry.stores.kubectls import list_kubectls
from kubeferry.stores.leftovers import find_leftovers

if TYPE_CHECKING:
    from kubeferry.targets.registries import RegistriesCheck


def _catalog_problem(settings: Settings, loaded: LoadedCatalog) -> str | None:
    path = settings.catalog_path
    if not path.exists() and not path.is_symlink():
        return (
            f"{path} does not exist: Rancher Desktop falls back to its built-in list "
            "(run 'kubeferry catalog update' online, or install a bundle)"
        )
    return loaded.problem


def _flags(settings: Settings) -> str:
    words: list[str] = []
    if settings.os_given:
        words += ["--os", settings.target_os]
    if settings.arch_given:
        words += ["--arch", settings.arch]
    if settings.home_given:
        words += ["--home", str(settings.home)]
    if settings.cache_dir_given:
        words += ["--cache-dir", str(settings.cache_dir)]
    return "".join(f" {shlex.quote(w)}" for w in words)


def gather(settings: Settings, *, quick: bool) -> Inputs:
    """Read the cache, the catalog, the kuberlr folder and its configuration."""
    config = kuberlr_config(settings)
    loaded = catalog_in_use(settings)
    catalog, source = loaded.catalog, loaded.source
    windows = settings.target_os == "windows"
    return Inputs(
        target=f"{settings.target_os}-{settings.arch}",
        catalog_source=source,
        catalog_problem=_catalog_problem(settings, loaded),
        listed_tags=frozenset(str(tag) for tag in catalog.versions),
        cached=tuple(list_cached(settings.cache_dir, (settings.arch,), verify=not quick)),
        kubectls=tuple(list_kubectls(settings.kuberlr_dir(), config.system_path, windows=windows)),
        allow_download=config.allow_download,
        offline=settings.offline,
        option_flags=_flags(settings),
        registries=_registries(settings),
        leftovers=tuple(find_leftovers(settings.cache_dir, (settings.kuberlr_dir(),))),
    )


def _registries(settings: Settings) -> tuple[RegistriesCheck, ...]:
    """The registries files k3s and Rancher Desktop read (the node's own only for the host)."""
    rd_file = rancher_desktop_provisioning_path(settings.target_os, settings.home, settings.environ)
    if not os.path.lexists(rd_file) and not os.path.lexists(Path("/", K3S_REGISTRIES_PATH)):
        return ()  # nothing to read: YAML is not even imported (doctor --quick stays light)
    from kubeferry.targets.registries import find_and_check

    found = find_and_check(settings.target_os, settings.home, settings.environ)
    if settings.home_given or settings.os_given:
        found = [c for c in found if c.kind != "registries.yaml"]
    return tuple(found)


@dataclass(frozen=True)
class Readiness:
    """What was read, and what it means for offline use."""

    inputs: Inputs
    report: Report

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`doctor --json`)."""
        report, inputs = self.report, self.inputs
        return {
            "ready": report.ready,
            "target": inputs.target,
            "catalog": inputs.catalog_source,
            "versions": [
                {
                    "tag": str(v.cached.tag),
                    "arch": v.cached.arch,
                    "state": v.cached.state.value,
                    "listed": v.listed,
                    "kubectl": str(v.kubectl.path) if v.kubectl else None,
                }
                for v in report.versions
            ],
            "kubectls": [
                {"version": k.version.short, "path": str(k.path)} for k in inputs.kubectls
            ],
            "problems": report.problems,
            "warnings": report.warnings,
            "leftovers": [item.as_dict() for item in inputs.leftovers],
            "missing_kubectl_minors": [f"{m[0]}.{m[1]}" for m in report.missing_minors],
            "fixes": report.fixes,
            "registries": [c.as_dict() for c in inputs.registries],
        }


def check_readiness(settings: Settings, *, quick: bool) -> Readiness:
    """Gather and diagnose."""
    inputs = gather(settings, quick=quick)
    return Readiness(inputs, diagnose(inputs))
