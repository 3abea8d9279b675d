"""This machine's places: Rancher Desktop's k3s cache and kuberlr's folder (or another home's).

A target turns a parsed bundle path into the file it becomes, or None when it is not for this
target (a kubectl of another OS or arch). Later targets (a plain k3s node, a mirror tree) offer
the same `destination`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeferry.core.layouts import CATALOG_FILE_NAME, BundlePath, k3s_root, kuberlr_dir


@dataclass(frozen=True)
class LocalTarget:
    """The Rancher Desktop cache and the kuberlr folders of one home, for one OS and its arches."""

    cache_dir: Path
    home: Path
    target_os: str
    arches: tuple[str, ...]

    @property
    def catalog_path(self) -> Path:
        """`<cache>/k3s-versions.json`."""
        return self.cache_dir / CATALOG_FILE_NAME

    @property
    def kubectl_platforms(self) -> list[str]:
        """`<os>-<arch>` of every kuberlr folder this target fills."""
        return sorted(f"{self.target_os}-{arch}" for arch in self.arches)

    def destination(self, place: BundlePath) -> Path | None:
        """Where a bundle file goes; None when it is not for this target."""
        if place.kind == "k3s" and place.tag:
            return k3s_root(self.cache_dir) / place.tag / place.name
        if place.kind == "kubectl" and place.os == self.target_os and place.arch in self.arches:
            return kuberlr_dir(self.home, self.target_os, place.arch) / place.name
        return None
