"""`catalog update` and `catalog convert` as services."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kubeferry.catalog.file import keep_aside, read_catalog, write_catalog
from kubeferry.catalog.rules import Catalog, catalog_to_json, convert_upstream, releases_from_pages
from kubeferry.catalog.upstream import fetch_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME
from kubeferry.core.versions import DEFAULT_MINIMUM_VERSION, K3sTag, KubeVersion, parse_kube_version
from kubeferry.errors import CatalogError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import parse_json, read_text
from kubeferry.services.common import network
from kubeferry.settings import Settings
from kubeferry.stores.cache import cached_folder_tags
from kubeferry.stores.lock import hold

DEFAULT_MINIMUM: Final = str(DEFAULT_MINIMUM_VERSION)
"""`--min-version`'s default: the oldest Kubernetes version a catalog lists."""


def parse_minimum(text: str) -> KubeVersion | None:
    """`--min-version` as a version (`1.25.3`, `v1.25`); None when it is not one."""
    return parse_kube_version(text)


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
        return fetch_catalog(client, endpoints, minimum, prefer)


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


def convert_to_text(
    channels_file: Path, releases_files: Sequence[Path], minimum: KubeVersion
) -> str:
    """`convert_files` as the JSON text of k3s-versions.json (for `-o -`)."""
    return catalog_to_json(convert_files(channels_file, releases_files, minimum))


def output_path(output: str | None) -> Path | None:
    """`-o PATH` as a path: one ending in a separator is a folder, even a new one."""
    if not output:
        return None
    if output.endswith(("/", os.sep)):
        return Path(output) / CATALOG_FILE_NAME
    return Path(output)


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
        destination = destination / CATALOG_FILE_NAME
    write_text_atomically(destination, catalog_to_json(result))
    return CatalogSummary(result, str(destination))
