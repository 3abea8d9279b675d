"""`kubeferry catalog update|convert`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubeferry.catalog.rules import (
    Catalog,
    catalog_to_json,
    convert_upstream,
    default_catalog,
    read_catalog,
    releases_from_pages,
    write_catalog,
)
from kubeferry.catalog.upstream import Upstream
from kubeferry.cli.render import emit, note, stderr_console
from kubeferry.core.textfiles import parse_json, read_text, write_text_atomically
from kubeferry.core.versions import DEFAULT_MINIMUM_VERSION, K3sTag, KubeVersion, parse_kube_version
from kubeferry.errors import CatalogError, KubeferryError
from kubeferry.net import http
from kubeferry.settings import Settings
from kubeferry.stores.cache import cached_folder_tags

if TYPE_CHECKING:
    from rich.console import Console


def load_catalog(settings: Settings, *, warn: bool = True) -> tuple[Catalog, str]:
    """The cache's catalog, or the embedded default when it is missing or broken."""
    path = settings.catalog_path
    if path.exists():
        try:
            return read_catalog(path), str(path)
        except CatalogError as exc:
            if warn:
                note(
                    f"kubeferry: warning: {exc.message} Using the embedded default catalog.",
                    quiet=settings.verbosity < 0,
                )
    return default_catalog(), "embedded default"


def fetch_upstream_catalog(
    settings: Settings,
    *,
    minimum: KubeVersion = DEFAULT_MINIMUM_VERSION,
    prefer: list[K3sTag] | None = None,
) -> Catalog:
    """Channels + releases from upstream (or the mirrors), converted; never empty."""
    endpoints = settings.endpoints
    http.ensure_online(settings.offline, endpoints.channels_url)
    with http.open_client() as client:
        upstream = Upstream(client, endpoints)
        channels = upstream.fetch_channels()
        releases = upstream.fetch_releases()
    fresh = convert_upstream(
        channels,
        releases,
        minimum=minimum,
        channels_source=endpoints.channels_url,
        prefer=prefer or [],
    )
    if not fresh.versions:
        raise KubeferryError(
            f"{endpoints.releases_url} listed no k3s release at or above {minimum}; the existing "
            "catalog was left untouched. Check the URL or --min-version."
        )
    return fresh


def _minimum(value: str) -> KubeVersion:
    version = parse_kube_version(value)
    if version is None:
        raise click.BadParameter(
            f"{value!r} is not a version like 1.25.3", param_hint="--min-version"
        )
    return version


def _summary(catalog: Catalog, destination: str) -> dict[str, Any]:
    return {
        "path": destination,
        "versions": len(catalog.versions),
        "oldest": str(catalog.versions[0]) if catalog.versions else None,
        "newest": str(catalog.versions[-1]) if catalog.versions else None,
        "channels": dict(catalog.channels),
    }


def _print_summary(summary: dict[str, Any]) -> Callable[[Console], None]:
    def draw(console: Console) -> None:
        stable = summary["channels"].get("stable", "-")
        console.print(
            f"wrote {summary['path']}: {summary['versions']} versions "
            f"({summary['oldest']} .. {summary['newest']}), stable {stable}, "
            f"{len(summary['channels'])} channels"
        )

    return draw


@click.group()
def catalog() -> None:
    """The k3s version catalog (Rancher Desktop's k3s-versions.json)."""


@catalog.command()
@click.option(
    "--min-version",
    default=str(DEFAULT_MINIMUM_VERSION),
    show_default=True,
    help="Oldest Kubernetes version to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_obj
def update(settings: Settings, min_version: str, as_json: bool) -> None:
    """Fetch the channel list and releases and write <cache>/k3s-versions.json."""
    minimum = _minimum(min_version)
    cached = cached_folder_tags(settings.cache_dir)
    fresh = fetch_upstream_catalog(settings, minimum=minimum, prefer=cached)
    write_catalog(settings.catalog_path, fresh)
    summary = _summary(fresh, str(settings.catalog_path))
    summary["cached_kept"] = [str(tag) for tag in cached if fresh.find_patch(tag.short) == tag]
    emit(summary, as_json=as_json, text=_print_summary(summary))


def _load_json(path: Path) -> Any:
    text = read_text(path, missing="Pass the saved upstream JSON file.")
    return parse_json(
        text, source=str(path), fix="Save the upstream answer again (curl -o FILE URL) and retry."
    )


@catalog.command()
@click.option(
    "--channels",
    "channels_file",
    required=True,
    type=click.Path(path_type=Path),
    help="Saved update.k3s.io/v1-release/channels JSON.",
)
@click.option(
    "--releases",
    "releases_files",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Saved GitHub releases JSON: one page, or a list of pages (repeatable).",
)
@click.option(
    "-o",
    "--output",
    default=None,
    help="Where to write ('-' for stdout; default <cache>/k3s-versions.json).",
)
@click.option(
    "--min-version",
    default=str(DEFAULT_MINIMUM_VERSION),
    show_default=True,
    help="Oldest Kubernetes version to list.",
)
@click.pass_obj
def convert(
    settings: Settings,
    channels_file: Path,
    releases_files: tuple[Path, ...],
    output: str | None,
    min_version: str,
) -> None:
    """Convert saved upstream JSON into k3s-versions.json, offline."""
    minimum = _minimum(min_version)
    channels = _load_json(channels_file)
    if not isinstance(channels, dict):
        raise CatalogError(
            f"{channels_file} is not a k3s channel list (expected a JSON object).",
            path=channels_file,
        )
    releases = []
    for path in releases_files:
        releases.extend(releases_from_pages(_load_json(path), source=str(path)))
    result = convert_upstream(
        channels, releases, minimum=minimum, channels_source=str(channels_file)
    )
    if not result.versions:
        raise CatalogError(
            f"no k3s release at or above {minimum} in {', '.join(map(str, releases_files))}; "
            "nothing was written. Check the files or --min-version."
        )
    if output == "-":
        sys.stdout.write(catalog_to_json(result))
        return
    destination = Path(output) if output else settings.catalog_path
    write_text_atomically(destination, catalog_to_json(result))
    summary = _summary(result, str(destination))
    if settings.verbosity >= 0:
        _print_summary(summary)(stderr_console())
