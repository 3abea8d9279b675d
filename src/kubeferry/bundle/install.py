"""Install a bundle into a target: verify first, place nothing from a bundle that fails.

Files are copied (a hard link only when asked: a link ties the bundle to the cache, so editing
one would change the other), each through a hidden name and a rename. The bundle's catalog must
be in the manifest; it is parsed from the very bytes that were hashed, then merged into the
target's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeferry.bundle.manifest import ManifestFile
from kubeferry.bundle.verify import inside, verify_bundle
from kubeferry.catalog.file import merge_into_file
from kubeferry.catalog.rules import Catalog, parse_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME
from kubeferry.core.platforms import ARCHITECTURES, K3sAssets
from kubeferry.core.textfiles import decode_text, read_bytes
from kubeferry.errors import BundleError, CatalogError
from kubeferry.net.hashes import sha256_file
from kubeferry.stores.cache import cached_folder_tags
from kubeferry.targets.local import LocalTarget

K3S_BINARIES = frozenset(K3sAssets(arch).binary for arch in ARCHITECTURES)


@dataclass
class InstallReport:
    """What `install` did, file by file."""

    target: LocalTarget
    placed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    catalog_changed: bool = False
    unreadable_catalog: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`bundle install --json`)."""
        return {
            "cache_dir": str(self.target.cache_dir),
            "home": str(self.target.home),
            "placed": self.placed,
            "already_present": self.present,
            "skipped": [{"path": p, "why": w} for p, w in self.skipped],
            "catalog_changed": self.catalog_changed,
            "unreadable_catalog_kept_as": str(self.unreadable_catalog or "") or None,
        }


def _same_file(source: Path, destination: Path, sha256: str) -> bool:
    if not destination.is_file() or destination.stat().st_size != source.stat().st_size:
        return False
    return sha256_file(destination) == sha256


def place_file(source: Path, destination: Path, *, executable: bool, link: bool = False) -> None:
    """Copy (or hard-link) `source` to a hidden temporary name beside `destination`, then rename."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.kubeferry-install")
    temporary.unlink(missing_ok=True)
    try:
        linked = False
        if link:
            try:
                os.link(source, temporary)
                linked = True
            except OSError:
                linked = False
        if not linked:
            shutil.copyfile(source, temporary, follow_symlinks=False)
        if executable:
            temporary.chmod(0o755)
        temporary.replace(destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _bundled_catalog(folder: Path, entries: tuple[ManifestFile, ...]) -> Catalog:
    """The bundle's catalog, which the manifest must list (so it was verified)."""
    path = folder / CATALOG_FILE_NAME
    entry = next((e for e in entries if e.kind == "catalog"), None)
    if entry is None:
        raise BundleError(
            f"the manifest of {folder} does not list {CATALOG_FILE_NAME}, so the bundle's catalog "
            "cannot be trusted and nothing was placed. Recreate the bundle with 'kubeferry bundle "
            "create'.",
            path=path,
        )
    data = read_bytes(path, missing="The bundle is incomplete.", error=CatalogError)
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise BundleError(
            f"{path} changed after it was verified; nothing was placed. Copy the bundle again.",
            path=path,
        )
    return parse_catalog(decode_text(data, source=str(path), error=CatalogError), source=str(path))


def install_bundle(folder: Path, target: LocalTarget, *, link: bool = False) -> InstallReport:
    """Verify `folder`, then place what is for `target`; merge its catalog. Idempotent."""
    verified = verify_bundle(folder)
    verified.require_ok()
    entries = verified.manifest.files
    bundled = _bundled_catalog(folder, entries)  # before anything is placed
    result = InstallReport(target)
    for entry in entries:
        destination = target.destination(entry.place)
        if destination is None:
            if entry.kind == "kubectl":
                result.skipped.append((entry.path, "another OS or arch than the target"))
            continue
        source = inside(folder, tuple(entry.path.split("/")))
        if _same_file(source, destination, entry.sha256):
            result.present.append(entry.path)
            continue
        executable = entry.kind == "kubectl" or entry.place.name in K3S_BINARIES
        place_file(source, destination, executable=executable, link=link)
        result.placed.append(entry.path)
    merge = merge_into_file(
        target.catalog_path,
        bundled,
        fallback=Catalog(versions=()),
        prefer=cached_folder_tags(target.cache_dir),
    )
    result.catalog_changed, result.unreadable_catalog = merge.changed, merge.kept_aside
    return result
