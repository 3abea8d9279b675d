"""`kubeferry doctor`: is this machine (or a prepared layout) ready to work offline?"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import click

from kubeferry.catalog.rules import read_catalog
from kubeferry.cli.catalog import load_catalog
from kubeferry.cli.kubectl import kuberlr_config
from kubeferry.cli.render import CommandFailed, emit, table
from kubeferry.doctor import Inputs, Report, diagnose
from kubeferry.errors import CatalogError
from kubeferry.settings import Settings
from kubeferry.stores.cache import list_cached
from kubeferry.stores.kubectls import list_kubectls

if TYPE_CHECKING:
    from rich.console import Console


def _catalog_problem(settings: Settings) -> str | None:
    path = settings.catalog_path
    if not path.exists():
        return (
            f"{path} does not exist: Rancher Desktop falls back to its built-in list "
            "(run 'kubeferry catalog update' online, or install a bundle)"
        )
    try:
        read_catalog(path)
    except CatalogError as exc:
        return exc.message
    return None


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
    catalog, source = load_catalog(settings, warn=False)
    windows = settings.target_os == "windows"
    return Inputs(
        target=f"{settings.target_os}-{settings.arch}",
        catalog_source=source,
        catalog_problem=_catalog_problem(settings),
        listed_tags=frozenset(str(tag) for tag in catalog.versions),
        cached=tuple(list_cached(settings.cache_dir, (settings.arch,), verify=not quick)),
        kubectls=tuple(list_kubectls(settings.kuberlr_dir(), config.system_path, windows=windows)),
        allow_download=config.allow_download,
        offline=settings.offline,
        option_flags=_flags(settings),
    )


def _data(report: Report, inputs: Inputs) -> dict[str, Any]:
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
        "kubectls": [{"version": k.version.short, "path": str(k.path)} for k in inputs.kubectls],
        "problems": report.problems,
        "warnings": report.warnings,
        "missing_kubectl_minors": [f"{m[0]}.{m[1]}" for m in report.missing_minors],
        "fixes": report.fixes,
    }


def _draw(console: Console, report: Report, inputs: Inputs) -> None:
    rows = [
        (
            str(v.cached.tag),
            v.cached.arch,
            v.cached.state.value,
            "yes" if v.listed else "NO",
            f"{v.kubectl.version.short}" if v.kubectl else "MISSING",
        )
        for v in report.versions
    ]
    if rows:
        console.print(table(("K3S VERSION", "ARCH", "CACHE", "IN CATALOG", "KUBECTL"), rows))
    found = ", ".join(k.version.short for k in inputs.kubectls) or "none"
    console.print(f"kubectl binaries ({inputs.target}): {found}; catalog: {inputs.catalog_source}")
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    for problem in report.problems:
        console.print(f"problem: {problem}")
    for fix in report.fixes:
        console.print(f"fix: {fix}")
    console.print("READY for offline use" if report.ready else "NOT READY for offline use")


@click.command()
@click.option("--quick", is_flag=True, help="Check that files are present and listed; no hashing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def doctor(settings: Settings, quick: bool, as_json: bool) -> None:
    """Offline readiness: cached versions, checksums, kubectl coverage; exit 1 while gaps remain."""
    inputs = gather(settings, quick=quick)
    report = diagnose(inputs)
    emit(
        _data(report, inputs), as_json=as_json, text=lambda console: _draw(console, report, inputs)
    )
    if not report.ready:
        raise CommandFailed(1)
