"""`catalog update` and `catalog convert` as services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeferry.catalog.file import keep_aside, read_catalog, write_catalog
from kubeferry.catalog.rules import Catalog, catalog_to_json, convert_upstream, releases_from_pages
from kubeferry.catalog.upstream import Upstream
from kubeferry.core.versions import DEFAULT_MINIMUM_VERSION, K3sTag, KubeVersion
from kubeferry.errors import CatalogError, UpstreamError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import parse_json, read_text
from kubeferry.services.common import network
from kubeferry.settings import Settings
from kubeferry.stores.cache import cached_folder_tags
from kubeferry.stores.lock import hold


@dataclass(frozen=True)
class CatalogSummary:
    """What was written where."""

    catalog: Catalog
    path: str
    cached_kept: tuple[str, ...] | None = None
    kept_aside: Path | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        versions = self.catalog.versions
        data: dict[str, Any] = {
            "path": self.path,
            "versions": len(versions),
            "oldest": str(versions[0]) if versions else None,
            "newest": str(versions[-1]) if versions else None,
            "channels": dict(self.catalog.channels),
        }
        if self.cached_kept is not None:
            data["cached_kept"] = list(self.cached_kept)
        if self.kept_aside is not None:
            data["unreadable_catalog_kept_as"] = str(self.kept_aside)
        return data


def fetch_upstream_catalog(
    settings: Settings,
    *,
    minimum: KubeVersion = DEFAULT_MINIMUM_VERSION,
    prefer: Sequence[K3sTag] = (),
) -> Catalog:
    """Channels + releases from upstream (or the mirrors), converted; never empty."""
    endpoints = settings.endpoints
    with network(settings, endpoints.channels_url) as client:
        upstream = Upstream(client, endpoints)
        channels = upstream.fetch_channels()
        releases = upstream.fetch_releases()
    fresh = convert_upstream(
        channels,
        releases,
        minimum=minimum,
        channels_source=endpoints.channels_url,
        prefer=list(prefer),
    )
    if not fresh.versions:
        raise UpstreamError(
            f"{endpoints.releases_url} listed no k3s release at or above {minimum}; the existing "
            "catalog was left untouched. Check the URL or --min-version.",
            url=endpoints.releases_url,
        )
    return fresh


def update_catalog(settings: Settings, minimum: KubeVersion) -> CatalogSummary:
    """Fetch upstream and write `<cache>/k3s-versions.json`, keeping cached builds listed."""
    cached = cached_folder_tags(settings.cache_dir)
    fresh = fetch_upstream_catalog(settings, minimum=minimum, prefer=cached)
    path = settings.catalog_path
    kept_aside = None
    what = f"the cache {settings.cache_dir}"
    with hold(settings.cache_dir, announce=settings.announce, what=what):
        if path.exists() or path.is_symlink():
            try:
                read_catalog(path)
            except CatalogError:
                kept_aside = keep_aside(path)
        write_catalog(path, fresh)
    kept = tuple(str(tag) for tag in cached if fresh.find_patch(tag.short) == tag)
    return CatalogSummary(fresh, str(path), kept, kept_aside)


def _load_json(path: Path) -> Any:
    text = read_text(path, missing="Pass the saved upstream JSON file.", error=CatalogError)
    return parse_json(
        text,
        source=str(path),
        fix="Save the upstream answer again (curl -o FILE URL) and retry.",
        error=CatalogError,
    )


def convert_files(
    channels_file: Path, releases_files: Sequence[Path], minimum: KubeVersion
) -> Catalog:
    """Saved upstream JSON files to a catalog, offline; never empty."""
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
    return result


def convert_catalog(
    settings: Settings,
    channels_file: Path,
    releases_files: Sequence[Path],
    minimum: KubeVersion,
    output: Path | None,
) -> CatalogSummary:
    """Convert saved upstream JSON and write it to `output` (default the cache's catalog)."""
    result = convert_files(channels_file, releases_files, minimum)
    destination = output or settings.catalog_path
    if destination.is_dir():
        destination = destination / "k3s-versions.json"
    write_text_atomically(destination, catalog_to_json(result))
    return CatalogSummary(result, str(destination))
