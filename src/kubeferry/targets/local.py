"""This machine's places: Rancher Desktop's k3s cache and kuberlr's folder (or another home's).

`LocalTarget` is the two targets `bundle install` fills together: a k3s file goes to the cache,
a kubectl to the kuberlr folder; the bundle's catalog is merged into the cache's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kubeferry.core.layouts import BundlePath
from kubeferry.targets.kuberlr import KuberlrFolder
from kubeferry.targets.rancher_desktop import RancherDesktopCache


@dataclass(frozen=True)
class LocalTarget:
    """The Rancher Desktop cache and the kuberlr folders of one home, for one OS and its arches."""

    cache_dir: Path
    home: Path
    target_os: str
    arches: tuple[str, ...]
    cache: RancherDesktopCache = field(init=False, repr=False, compare=False)
    kuberlr: KuberlrFolder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cache", RancherDesktopCache(self.cache_dir))
        object.__setattr__(self, "kuberlr", KuberlrFolder(self.home, self.target_os, self.arches))

    @property
    def catalog_path(self) -> Path:
        """`<cache>/k3s-versions.json`."""
        return self.cache.catalog_path

    @property
    def kubectl_platforms(self) -> list[str]:
        """`<os>-<arch>` of every kuberlr folder this target fills."""
        return self.kuberlr.platforms

    def destination(self, place: BundlePath) -> Path | None:
        """Where a bundle file goes; None when it is not for this target."""
        return self.cache.destination(place) or self.kuberlr.destination(place)

    def whole_folder(self, destination: Path) -> Path | None:
        """A k3s version folder of the cache; a kubectl appears on its own."""
        return self.cache.whole_folder(destination)

    def staging_folder(self, folder: Path) -> Path:
        """Where a version folder is assembled (`<cache>/k3s/tmp-<tag>-kubeferry-install`)."""
        return self.cache.staging_folder(folder)
