"""Install a bundle into a target: verify first, place nothing from a bundle that fails.

Files are copied (a hard link only when asked: a link ties the bundle to the cache, so editing
one would change the other) and hashed while they are copied, each through a hidden name and a
rename. A k3s version the cache lacks is assembled in `<cache>/k3s/tmp-<tag>-kubeferry-install`
(Rancher Desktop ignores names that are not tags) and renamed into place whole. The bundle's
catalog must be in the manifest; it is parsed from the very bytes that were hashed, then merged
into the target's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeferry.bundle.manifest import ManifestFile
from kubeferry.catalog.file import merge_into_file
from kubeferry.catalog.rules import Catalog, parse_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME, kuberlr_dir
from kubeferry.errors import BundleError, CatalogError
from kubeferry.files.textfiles import decode_text, read_bytes
from kubeferry.stores.cache import cached_folder_tags
from kubeferry.stores.lock import Announce, hold_all
from kubeferry.targets.local import LocalTarget
from kubeferry.targets.placement import BundleFile, Placement
from kubeferry.verification.bundle import VerifyReport, verify_bundle


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


def install_bundle(
    folder: Path, target: LocalTarget, *, link: bool = False, verified: VerifyReport | None = None
) -> InstallReport:
    """Verify `folder` (unless `verified` is its report, made under its lock), then let the
    target place each file that is for it; merge the bundle's catalog. Idempotent."""
    verified = verified or verify_bundle(folder)
    verified.require_ok()
    entries = verified.manifest.files
    bundled = _bundled_catalog(folder, entries)  # before anything is placed
    result = InstallReport(target)
    placement = Placement(target, link=link)
    for entry in entries:
        destination = target.destination(entry.place)
        if destination is None:
            if entry.kind == "kubectl":
                result.skipped.append((entry.path, "another OS or arch than the target"))
            continue
        source = BundleFile(folder, entry.path, entry.size, entry.sha256, entry.place.executable)
        placement.place(source, destination)
    placement.commit()
    result.placed, result.present = placement.placed, placement.present
    merge = merge_into_file(
        target.catalog_path,
        bundled,
        fallback=Catalog(versions=()),
        prefer=cached_folder_tags(target.cache_dir),
    )
    result.catalog_changed, result.unreadable_catalog = merge.changed, merge.kept_aside
    return result


def install_held(
    folder: Path, target: LocalTarget, *, announce: Announce | None = None, link: bool = False
) -> InstallReport:
    """Verify `folder` (whose lock the caller holds), then lock the target and install.

    Locks, always in this order: the bundle (the caller's), the cache, each kuberlr folder.
    Nothing is locked, so no folder is created in the target, before the bundle verified.
    """
    folders = [(target.cache_dir, f"the cache {target.cache_dir}")]
    folders += [
        (kuberlr_dir(target.home, target.target_os, arch), "the kuberlr folder")
        for arch in target.arches
    ]
    verified = verify_bundle(folder)
    verified.require_ok()
    with hold_all(folders, announce=announce):
        return install_bundle(folder, target, link=link, verified=verified)
