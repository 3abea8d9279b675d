"""What interrupted runs leave in a target: partial downloads and staging folders.

None of it is visible to Rancher Desktop or kuberlr (hidden names, `tmp-` folders), so nothing
breaks; but it takes space, and a person should know it is there and how to finish the work
(`resume`) or drop it (`kubeferry cache clean`). Only plain files and folders are reported and
removed; a link found there is left alone.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubeferry.core.layouts import INSTALL_PURPOSE, PLACE_SUFFIX, STAGING_SUFFIX, k3s_root
from kubeferry.core.versions import is_cache_folder_name

TEMPORARY_SUFFIXES: Final = (PLACE_SUFFIX, ".tmp")
NOTHING_TO_RESUME: Final = "nothing to resume (a copy that was cut short)"


@dataclass(frozen=True)
class Leftover:
    """One partial download, temporary file or staging folder."""

    path: Path
    kind: str
    size: int
    resume: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"path": str(self.path), "kind": self.kind, "size": self.size, "resume": self.resume}


def _size(path: Path) -> int:
    info = os.lstat(path)
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.lstat(Path(root) / name).st_size for name in files)
    return total


def _plain(path: Path, *, folder: bool) -> bool:
    info = os.lstat(path)
    return stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)


def _is_part(name: str) -> bool:
    if not name.startswith("."):
        return False
    # Only for hidden names: the download modules cost a local command's start-up.
    from kubeferry.download.partfiles import META_SUFFIX, PART_SUFFIX
    from kubeferry.download.segment_files import STATE_SUFFIX

    return name.endswith((PART_SUFFIX, META_SUFFIX, STATE_SUFFIX))


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIXES)


def _staging(entry: Path) -> Leftover | None:
    name = entry.name
    if not name.startswith("tmp-") or not _plain(entry, folder=True):
        return None
    if name.endswith(STAGING_SUFFIX + INSTALL_PURPOSE):
        tag = name[4 : -len(STAGING_SUFFIX + INSTALL_PURPOSE)]
        resume = f"kubeferry bundle install BUNDLE (the bundle that carries {tag})"
        return Leftover(entry, "install staging folder", _size(entry), resume)
    if name.endswith(STAGING_SUFFIX):
        tag = name[4 : -len(STAGING_SUFFIX)]
        return Leftover(entry, "staging folder", _size(entry), f"kubeferry cache add {tag}")
    return None


def _loose_files(folder: Path, resume: str) -> list[Leftover]:
    found: list[Leftover] = []
    for entry in sorted(folder.iterdir()):
        if _is_part(entry.name) and _plain(entry, folder=False):
            found.append(Leftover(entry, "partial download", _size(entry), resume))
        elif _is_temporary(entry.name) and _plain(entry, folder=False):
            found.append(Leftover(entry, "temporary file", _size(entry), NOTHING_TO_RESUME))
    return found


def find_leftovers(cache_dir: Path, kuberlr_dirs: tuple[Path, ...] = ()) -> list[Leftover]:
    """Staging folders under `<cache>/k3s`, partial and temporary files in the version folders,
    the cache folder itself (catalog writes) and the kuberlr folders."""
    found: list[Leftover] = []
    if cache_dir.is_dir():
        found += _loose_files(cache_dir, NOTHING_TO_RESUME)
    root = k3s_root(cache_dir)
    if root.is_dir() and not root.is_symlink():
        for entry in sorted(root.iterdir()):
            staged = _staging(entry)
            if staged is not None:
                found.append(staged)
            elif is_cache_folder_name(entry.name) and _plain(entry, folder=True):
                found += _loose_files(entry, "kubeferry cache verify --repair")
    for folder in kuberlr_dirs:
        if folder.is_dir() and not folder.is_symlink():
            found += _loose_files(folder, "kubeferry kubectl get VERSION (the same command again)")
    return found


def remove_leftovers(leftovers: list[Leftover]) -> list[Leftover]:
    """Delete each leftover (plain files and folders only); the ones removed."""
    removed: list[Leftover] = []
    for item in leftovers:
        try:
            info = os.lstat(item.path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode):
            import shutil  # bz2, lzma and zlib come with it: only when there is a folder to drop

            shutil.rmtree(item.path)  # does not follow links inside
        elif stat.S_ISREG(info.st_mode):
            item.path.unlink()
        else:
            continue
        removed.append(item)
    return removed
