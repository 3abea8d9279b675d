"""kuberlr's folder: `<home>/.kuberlr/<os>-<arch>/kubectl<M.m.p>[.exe]`, one file at a time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeferry.core.layouts import BundlePath, kuberlr_dir


@dataclass(frozen=True)
class KuberlrFolder:
    """The kubectl binaries of one home, for one OS and its arches."""

    home: Path
    target_os: str
    arches: tuple[str, ...]

    @property
    def platforms(self) -> list[str]:
        """`<os>-<arch>` of every folder this target fills."""
        return sorted(f"{self.target_os}-{arch}" for arch in self.arches)

    def destination(self, place: BundlePath) -> Path | None:
        """A kubectl of this OS and one of these arches; None for any other file."""
        if place.kind == "kubectl" and place.os == self.target_os and place.arch in self.arches:
            return kuberlr_dir(self.home, self.target_os, place.arch) / place.name
        return None

    def whole_folder(self, destination: Path) -> Path | None:
        """None: each kubectl appears on its own (kuberlr reads files, not folders)."""
        return None

    def staging_folder(self, folder: Path) -> Path:
        """Never asked: no folder here must appear whole."""
        return folder
