"""`versions` as a service: the k3s versions a user can pick, with the kubectl covering each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeferry.catalog.rules import Catalog
from kubeferry.core.kuberlr import all_binaries
from kubeferry.core.skew import Binary, choose, format_version
from kubeferry.core.versions import K3sTag
from kubeferry.services.common import catalog_in_use, kuberlr_config
from kubeferry.settings import Settings
from kubeferry.stores.cache import verified_tags


@dataclass(frozen=True)
class VersionChoice:
    """One row of the version list."""

    tag: K3sTag
    channels: tuple[str, ...]
    cached: bool
    listed: bool
    kubectl: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "tag": str(self.tag),
            "version": self.tag.short,
            "channels": list(self.channels),
            "cached": self.cached,
            "listed": self.listed,
            "kubectl": self.kubectl,
        }


def available_versions(
    catalog: Catalog,
    cached: list[K3sTag],
    *,
    offline: bool,
    kubectls: list[Binary] | None = None,
) -> list[VersionChoice]:
    """Online: the catalog. Offline: only cached tags, listed or not. Newest first."""
    labels = catalog.labels_by_short()
    cached_set = set(cached)
    listed = {tag.short: tag for tag in catalog.versions}
    if offline:
        chosen = list(cached)
    else:
        chosen = list(catalog.versions) + [t for t in cached if listed.get(t.short) != t]
    choices = [
        VersionChoice(
            tag=tag,
            channels=tuple(labels.get(tag.short, ()) if listed.get(tag.short) == tag else ()),
            cached=tag in cached_set,
            listed=listed.get(tag.short) == tag,
            kubectl=_fitting(tag, kubectls or []),
        )
        for tag in chosen
    ]
    return sorted(choices, key=lambda choice: choice.tag.sort_key(), reverse=True)


def _fitting(tag: K3sTag, kubectls: list[Binary]) -> str | None:
    found = choose((tag.major, tag.minor, tag.patch), kubectls)
    return format_version(found[0]) if found else None


@dataclass(frozen=True)
class VersionList:
    """The choices, and where they came from."""

    offline: bool
    catalog: str
    cache_dir: Path
    arch: str
    versions: tuple[VersionChoice, ...]
    catalog_warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`versions --json`)."""
        return {
            "offline": self.offline,
            "catalog": self.catalog,
            "cache_dir": str(self.cache_dir),
            "arch": self.arch,
            "versions": [choice.as_dict() for choice in self.versions],
        }


def list_versions(settings: Settings) -> VersionList:
    """Online: the catalog; offline: only verified cached versions."""
    loaded = catalog_in_use(settings)
    cached = verified_tags(settings.cache_dir, settings.arch)
    config = kuberlr_config(settings)
    binaries = all_binaries(
        str(settings.kuberlr_dir()), config.system_path, windows=settings.target_os == "windows"
    )
    choices = available_versions(
        loaded.catalog, cached, offline=settings.offline, kubectls=binaries
    )
    return VersionList(
        settings.offline,
        loaded.source,
        settings.cache_dir,
        settings.arch,
        tuple(choices),
        loaded.warning,
    )
