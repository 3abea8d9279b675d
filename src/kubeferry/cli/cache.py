"""`kubeferry cache list|verify|add|remove`: the Rancher Desktop k3s cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubeferry.cli import cache_fill
from kubeferry.cli.catalog import load_catalog
from kubeferry.cli.render import CommandFailed, emit, human_size, note, table
from kubeferry.settings import Settings
from kubeferry.stores.cache import CachedVersion, State, list_cached, remove_version

if TYPE_CHECKING:
    from rich.console import Console


def report_dict(report: CachedVersion, listed: bool) -> dict[str, Any]:
    """JSON form of one folder's state."""
    return {
        "tag": str(report.tag),
        "arch": report.arch,
        "state": report.state.value,
        "listed": listed,
        "images": report.images_format,
        "size": report.size,
        "folder": str(report.folder),
        "problems": [
            {"file": p.file, "message": p.message, "expected": p.expected, "actual": p.actual}
            for p in report.problems
        ],
    }


def _listed_tags(settings: Settings) -> set[str]:
    catalog, _ = load_catalog(settings, warn=False)
    return {str(tag) for tag in catalog.versions}


def _rows(reports: list[CachedVersion], listed: set[str]) -> list[tuple[str, ...]]:
    rows = []
    for report in reports:
        state = report.state.value
        if str(report.tag) not in listed:
            state += ", unlisted in catalog"
        rows.append(
            (
                str(report.tag),
                report.arch,
                report.images_format or "-",
                human_size(report.size),
                state,
            )
        )
    return rows


@click.group()
def cache() -> None:
    """The Rancher Desktop k3s cache (<cache>/k3s/<tag>/)."""


cache.add_command(cache_fill.add)


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(settings: Settings, as_json: bool) -> None:
    """Cached versions with arch, images format, size and state."""
    reports = list_cached(settings.cache_dir, settings.arches)
    listed = _listed_tags(settings)
    data = {
        "cache_dir": str(settings.cache_dir),
        "versions": [report_dict(r, str(r.tag) in listed) for r in reports],
    }

    def draw(console: Console) -> None:
        if not reports:
            console.print(f"no cached k3s versions in {settings.cache_dir / 'k3s'}")
            return
        console.print(table(("VERSION", "ARCH", "IMAGES", "SIZE", "STATE"), _rows(reports, listed)))

    emit(data, as_json=as_json, text=draw)


def draw_problems(console: Console, reports: list[CachedVersion]) -> None:
    """Each bad file by name, with expected and actual digest when known."""
    for report in reports:
        for problem in report.problems:
            console.print(f"{report.tag} ({report.arch}): {problem.message}")


@cache.command()
@click.option("--repair", is_flag=True, help="Download again what is bad or missing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def verify(settings: Settings, repair: bool, as_json: bool) -> None:
    """Re-hash every cached version; exit 1 while anything is bad."""
    reports = list_cached(settings.cache_dir, settings.arches)
    bad = [r for r in reports if r.state is not State.OK]
    repaired: list[dict[str, Any]] = []
    if repair and bad:
        repaired = cache_fill.repair_reports(settings, bad)
        reports = list_cached(settings.cache_dir, settings.arches)
        bad = [r for r in reports if r.state is not State.OK]
    listed = _listed_tags(settings)
    data = {
        "cache_dir": str(settings.cache_dir),
        "ok": not bad,
        "repaired": repaired,
        "versions": [report_dict(r, str(r.tag) in listed) for r in reports],
    }

    def draw(console: Console) -> None:
        if not reports:
            console.print(f"no cached k3s versions in {settings.cache_dir / 'k3s'}")
        for item in repaired:
            console.print(f"repaired {item['tag']} ({item['arch']}): {', '.join(item['files'])}")
        draw_problems(console, bad)
        good = len(reports) - len(bad)
        console.print(f"{good} of {len(reports)} cached versions verified")
        if bad and not repair:
            console.print("run 'kubeferry cache verify --repair' to download the bad files again")

    emit(data, as_json=as_json, text=draw)
    if bad:
        raise CommandFailed(1)


@cache.command()
@click.argument("tag")
@click.pass_obj
def remove(settings: Settings, tag: str) -> None:
    """Delete one cached version folder."""
    folder = remove_version(settings.cache_dir, tag)
    note(f"removed {folder}", quiet=settings.verbosity < 0)
