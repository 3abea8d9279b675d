"""`kubeferry cache list|verify|add|remove|clean`: click glue over services/cache.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kubeferry.cli.options import connections_option, with_connections
from kubeferry.cli.render import CommandFailed, emit, human_size, note, table
from kubeferry.services.cache import (
    CacheState,
    add_versions,
    clean_cache,
    list_cache,
    remove_cached,
    verify_cache,
)
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console
    from kubeferry.stores.cache import CachedVersion
    from kubeferry.stores.leftovers import Leftover


def _rows(state: CacheState) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for report in state.versions:
        text = report.state.value
        if str(report.tag) not in state.listed:
            text += ", unlisted in catalog"
        rows.append(
            (
                str(report.tag),
                report.arch,
                report.images_format or "-",
                human_size(report.size),
                text,
            )
        )
    return rows


@click.group()
def cache() -> None:
    """The Rancher Desktop k3s cache (<cache>/k3s/<tag>/)."""


@cache.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@connections_option
@click.pass_obj
def add(settings: Settings, specs: tuple[str, ...], as_json: bool, connections: int | None) -> None:
    """Download k3s versions into the cache: a tag, 1.30.6, 1.30 or a channel (stable, v1.30)."""
    settings = with_connections(settings, connections)
    from kubeferry.cli.progress import progress_board  # the download stack: not for `list`

    show = not as_json and settings.verbosity >= 0
    with progress_board(enabled=show) as board:
        done = add_versions(settings, specs, progress=board.callback)
    if done.catalog_warning:
        note(done.catalog_warning, quiet=settings.verbosity < 0)

    def draw(console: Console) -> None:
        for result in done.results:
            if result.already_cached:
                console.print(f"{result.tag} ({result.arch}): already cached and verified")
            else:
                console.print(
                    f"{result.tag} ({result.arch}): verified, "
                    f"{result.fetched_bytes} bytes fetched -> {result.folder}"
                )
        if done.merge.kept_aside:
            console.print(f"the catalog could not be read; it was kept as {done.merge.kept_aside}")
        if done.merge.changed:
            console.print(f"added to {done.catalog_path}")

    emit(done.as_dict(), as_json=as_json, text=draw)


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(settings: Settings, as_json: bool) -> None:
    """Cached versions with arch, images format, size and state."""
    state = list_cache(settings)
    if state.catalog_warning:
        note(state.catalog_warning, quiet=settings.verbosity < 0)

    def draw(console: Console) -> None:
        if not state.versions:
            console.print(f"no cached k3s versions in {settings.cache_dir / 'k3s'}")
            draw_leftovers(console, state.leftovers)
            return
        console.print(table(("VERSION", "ARCH", "IMAGES", "SIZE", "STATE"), _rows(state)))
        draw_no_script(console, state.versions)
        draw_leftovers(console, state.leftovers)

    emit(state.as_dict(), as_json=as_json, text=draw)


def draw_no_script(console: Console, versions: tuple[CachedVersion, ...]) -> None:
    """Versions cached without k3s's install.sh (optional: only 'node install' needs it)."""
    missing = sorted({str(v.tag) for v in versions if not v.has_install_script})
    if missing:
        console.print(
            f"without install.sh (only 'kubeferry node install' needs it; 'kubeferry cache add "
            f"TAG' fetches it): {', '.join(missing)}"
        )


def draw_leftovers(console: Console, leftovers: tuple[Leftover, ...]) -> None:
    """Each leftover of an interrupted run, how to finish it, and how to drop them all."""
    for item in leftovers:
        console.print(
            f"{item.kind} {item.path} ({human_size(item.size)}), left by an interrupted run: "
            f"resume with '{item.resume}'"
        )
    if leftovers:
        console.print("or remove them all with 'kubeferry cache clean'")


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
    from kubeferry.cli.progress import progress_board

    with progress_board(enabled=settings.verbosity >= 0) as board:
        state = verify_cache(settings, repair=repair, progress=board.callback)
    if state.catalog_warning:
        note(state.catalog_warning, quiet=settings.verbosity < 0)
    bad = state.bad

    def draw(console: Console) -> None:
        if not state.versions:
            console.print(f"no cached k3s versions in {settings.cache_dir / 'k3s'}")
        for item in state.repaired or ():
            console.print(f"repaired {item.tag} ({item.arch}): {', '.join(item.downloaded)}")
        draw_problems(console, bad)
        good = len(state.versions) - len(bad)
        console.print(f"{good} of {len(state.versions)} cached versions verified")
        if bad and not repair:
            console.print("run 'kubeferry cache verify --repair' to download the bad files again")
        draw_leftovers(console, state.leftovers)

    emit(state.as_dict(), as_json=as_json, text=draw)
    if bad:
        raise CommandFailed(1)


@cache.command()
@click.argument("tag")
@click.pass_obj
def remove(settings: Settings, tag: str) -> None:
    """Delete one cached version folder."""
    folder = remove_cached(settings, tag)
    note(f"removed {folder}", quiet=settings.verbosity < 0)


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def clean(settings: Settings, as_json: bool) -> None:
    """Remove what interrupted runs left: partial downloads, temporary files, staging folders."""
    done = clean_cache(settings)

    def draw(console: Console) -> None:
        for item in done.removed:
            console.print(f"removed {item.kind} {item.path} ({human_size(item.size)})")
        freed = human_size(sum(item.size for item in done.removed))
        console.print(f"{len(done.removed)} leftovers removed, {freed} freed")

    emit(done.as_dict(), as_json=as_json, text=draw)
