"""What a target is: a place bundle files go, with the folders that must appear whole.

A target answers *where* (`destination`), *which folder must appear whole* (`whole_folder`, a
k3s version folder: Rancher Desktop must never see half a version) and *where that folder is
assembled* (`staging_folder`); `targets.placement.Placement` does the placing for any target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from kubeferry.core.layouts import BundlePath


class Target(Protocol):
    """A place bundle files are installed into."""

    def destination(self, place: BundlePath) -> Path | None:
        """Where a bundle file goes; None when it is not for this target."""
        ...

    def whole_folder(self, destination: Path) -> Path | None:
        """The folder `destination` belongs to when that folder must appear whole, else None."""
        ...

    def staging_folder(self, folder: Path) -> Path:
        """Where a folder that must appear whole is assembled before its rename."""
        ...
