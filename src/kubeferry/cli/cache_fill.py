"""`kubeferry cache add` and `cache verify --repair`: downloads into the k3s cache."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from kubeferry.catalog.rules import (
    Catalog,
    FileMerge,
    default_catalog,
    merge_into_file,
    resolve_k3s_spec,
)
from kubeferry.cli.catalog import load_catalog
from kubeferry.cli.progress import progress_board
from kubeferry.cli.render import emit
from kubeferry.core.versions import K3sTag
from kubeferry.errors import OfflineError
from kubeferry.net import http
from kubeferry.net.download import run_parallel
from kubeferry.settings import Settings
from kubeferry.stores.cache import CachedVersion
from kubeferry.stores.cache_fill import Filler, FillResult, repair_advice

if TYPE_CHECKING:
    from rich.console import Console


def fill_result_dict(result: FillResult) -> dict[str, Any]:
    """JSON form of a FillResult."""
    return {
        "tag": str(result.tag),
        "arch": result.arch,
        "folder": str(result.folder),
        "files": list(result.downloaded),
        "fetched_bytes": result.fetched_bytes,
        "already_cached": result.already_cached,
    }


def fill_versions(
    settings: Settings, work: list[tuple[K3sTag, str]], *, show_progress: bool
) -> list[FillResult]:
    """Fill each (tag, arch) folder: two tags at a time, a tag's arches one after another
    (they share its folder), the files of one arch in parallel."""
    http.ensure_online(settings.offline, settings.endpoints.k3s_download_url)
    by_tag: dict[K3sTag, list[str]] = {}
    for tag, arch in work:
        by_tag.setdefault(tag, []).append(arch)
    with http.open_client() as client, progress_board(enabled=show_progress) as board:
        filler = Filler(client, settings.endpoints, settings.cache_dir, board.callback)

        def fill_tag(tag: K3sTag) -> Callable[[], list[FillResult]]:
            return lambda: [filler.fill(tag, arch) for arch in by_tag[tag]]

        groups = run_parallel([fill_tag(tag) for tag in by_tag], workers=2)
    return [result for group in groups for result in group]


def list_in_catalog(settings: Settings, tags: list[K3sTag]) -> FileMerge:
    """Add cached tags the catalog does not list (Rancher Desktop shows only listed ones)."""
    return merge_into_file(
        settings.catalog_path,
        Catalog(versions=tuple(tags)),
        fallback=default_catalog(),
        prefer=tags,
    )


def repair_reports(settings: Settings, reports: list[CachedVersion]) -> list[dict[str, Any]]:
    """Download again what is bad; offline, say exactly what to bring and from where."""
    if settings.offline:
        lines = []
        for report in reports:
            for url, destination in repair_advice(report, settings.endpoints):
                lines.append(f"  {url}\n    -> {destination}")
        raise OfflineError(
            "offline mode is on, so nothing was downloaded. On a connected machine fetch these "
            "files and place them as shown (or run 'kubeferry bundle create' there and "
            "'kubeferry bundle install' here):\n" + "\n".join(lines)
        )
    http.ensure_online(settings.offline, settings.endpoints.k3s_download_url)
    with (
        http.open_client() as client,
        progress_board(enabled=settings.verbosity >= 0) as board,
    ):
        filler = Filler(client, settings.endpoints, settings.cache_dir, board.callback)
        # The reports already hold what is bad: no second hashing before the repair.
        return [fill_result_dict(filler.repair(report)) for report in reports]


@click.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_obj
def add(settings: Settings, specs: tuple[str, ...], as_json: bool) -> None:
    """Download k3s versions into the cache: a tag, 1.30.6, 1.30 or a channel (stable, v1.30)."""
    catalog, source = load_catalog(settings)
    tags = _resolve(catalog, specs, source)
    work = [(tag, arch) for tag in tags for arch in settings.arches]
    results = fill_versions(settings, work, show_progress=not as_json and settings.verbosity >= 0)
    merge = list_in_catalog(settings, tags)
    data = {
        "cache_dir": str(settings.cache_dir),
        "catalog_updated": merge.changed,
        "unreadable_catalog_kept_as": str(merge.kept_aside) if merge.kept_aside else None,
        "versions": [fill_result_dict(r) for r in results],
    }

    def draw(console: Console) -> None:
        for result in results:
            if result.already_cached:
                console.print(f"{result.tag} ({result.arch}): already cached and verified")
            else:
                console.print(
                    f"{result.tag} ({result.arch}): verified, "
                    f"{result.fetched_bytes} bytes fetched -> {result.folder}"
                )
        if merge.kept_aside:
            console.print(f"the catalog could not be read; it was kept as {merge.kept_aside}")
        if merge.changed:
            console.print(f"added to {settings.catalog_path}")

    emit(data, as_json=as_json, text=draw)


def _resolve(catalog: Catalog, specs: tuple[str, ...], source: str) -> list[K3sTag]:
    tags: list[K3sTag] = []
    for spec in specs:
        tag = resolve_k3s_spec(catalog, spec, source=source)
        if tag not in tags:
            tags.append(tag)
    return tags
