"""Rancher Desktop's k3s cache: `<cache>/k3s/<tag>/` and `<cache>/k3s-versions.json`.

A version folder appears whole: it is assembled in `<cache>/k3s/tmp-<tag>-kubeferry<purpose>`
(Rancher Desktop ignores names that are not tags) and renamed into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeferry.core.layouts import (
    CATALOG_FILE_NAME,
    INSTALL_PURPOSE,
    BundlePath,
    k3s_root,
    staging_folder_name,
)


@dataclass(frozen=True)
class RancherDesktopCache:
    """The k3s cache of one machine (or another OS's layout prepared from here)."""

    cache_dir: Path
    purpose: str = INSTALL_PURPOSE

    @property
    def catalog_path(self) -> Path:
        """`<cache>/k3s-versions.json`."""
        return self.cache_dir / CATALOG_FILE_NAME

    def version_folder(self, tag: str) -> Path:
        """`<cache>/k3s/<tag>`."""
        return k3s_root(self.cache_dir) / tag

    def destination(self, place: BundlePath) -> Path | None:
        """k3s release files go into their version folder; nothing else is for the cache."""
        if place.kind == "k3s" and place.tag:
            return self.version_folder(place.tag) / place.name
        return None

    def whole_folder(self, destination: Path) -> Path | None:
        """A version folder (never half a version)."""
        return destination.parent if destination.parent.parent == k3s_root(self.cache_dir) else None

    def staging_folder(self, folder: Path) -> Path:
        """`<cache>/k3s/tmp-<tag>-kubeferry<purpose>`: fixed, so a killed run resumes there."""
        return k3s_root(self.cache_dir) / f"{staging_folder_name(folder.name)}{self.purpose}"
