"""Placing verified files into any target: one file atomically, a whole folder at once.

Each file is copied (hashed while copied: only bytes that match the manifest are placed) or,
when asked, hard-linked to a hidden name beside its destination, then renamed. A file whose
folder must appear whole (`Target.whole_folder`: a k3s version the cache lacks) is placed in
that folder's staging folder instead, and `commit` renames every staged folder into place.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kubeferry.core.layouts import PLACE_SUFFIX
from kubeferry.errors import KubeferryError, StorageError
from kubeferry.files.hashing import sha256_file
from kubeferry.files.safe import fresh_folder, open_for_writing, remove_plain
from kubeferry.targets.base import Target
from kubeferry.verification.bundle import copy_verified


@dataclass(frozen=True)
class BundleFile:
    """A file of a verified bundle: where it is and what its bytes must be."""

    folder: Path
    path: str
    size: int
    sha256: str
    executable: bool

    @property
    def location(self) -> Path:
        """The file in the bundle (for messages and hard links)."""
        return self.folder / self.path


def same_file(destination: Path, size: int, sha256: str) -> bool:
    """True when a plain file with these bytes is already there (a link there is replaced)."""
    try:
        found = os.lstat(destination)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(found.st_mode) or found.st_size != size:
        return False
    return sha256_file(destination) == sha256


def _copy_in(source: BundleFile, temporary: Path) -> None:
    with open_for_writing(temporary, append=False) as writer:
        copy_verified(
            source.folder,
            source.path,
            source.size,
            source.sha256,
            writer,
            consequence="It was not placed.",
        )
        writer.flush()
        os.fsync(writer.fileno())


def place_file(source: BundleFile, destination: Path, *, link: bool = False) -> None:
    """Copy (or hard-link) `source` to a hidden temporary name beside `destination`, then rename."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}{PLACE_SUFFIX}")
    remove_plain(temporary)
    try:
        linked = False
        if link:
            try:
                os.link(source.location, temporary, follow_symlinks=False)
                linked = True
            except OSError:
                linked = False
        if not linked:
            _copy_in(source, temporary)
        if source.executable:
            temporary.chmod(0o755)
        temporary.replace(destination)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, KubeferryError):
            raise StorageError(
                f"could not place {destination} from {source.location}: {exc.strerror or exc}. "
                "Nothing half-written was left; free some space or fix the folder's "
                "permissions, then run the command again.",
                path=destination,
            ) from exc
        raise


@dataclass
class Placement:
    """One install into `target`: `place` each file, then `commit` the staged folders."""

    target: Target
    link: bool = False
    placed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    _staged: dict[Path, Path] = field(default_factory=dict)

    def place(self, source: BundleFile, destination: Path) -> None:
        """`source` at `destination` (or in its folder's staging folder), unless already there."""
        folder = self.target.whole_folder(destination)
        if folder is not None and not os.path.lexists(folder):
            staging = self._staged.get(folder)
            if staging is None:
                staging = self.target.staging_folder(folder)
                fresh_folder(staging)
                self._staged[folder] = staging
            destination = staging / destination.relative_to(folder)
        if same_file(destination, source.size, source.sha256):
            self.present.append(source.path)
            return
        place_file(source, destination, link=self.link)
        self.placed.append(source.path)

    def commit(self) -> None:
        """Rename every staged folder into place, whole."""
        for folder, staging in self._staged.items():
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(folder)
        self._staged.clear()
