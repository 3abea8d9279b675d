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
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kubeferry.bundle.manifest import ManifestFile
from kubeferry.bundle.verify import VerifyReport, inside, verify_bundle
from kubeferry.catalog.file import merge_into_file
from kubeferry.catalog.rules import Catalog, parse_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME, k3s_root, staging_folder_name
from kubeferry.core.platforms import ARCHITECTURES, K3sAssets
from kubeferry.core.textfiles import decode_text, open_regular, read_bytes
from kubeferry.errors import BundleError, CatalogError, StorageError, UnsafePathError
from kubeferry.net.hashes import copy_hashing, open_for_writing, sha256_file
from kubeferry.net.partfiles import remove_plain
from kubeferry.stores.cache import cached_folder_tags
from kubeferry.targets.local import LocalTarget

K3S_BINARIES = frozenset(K3sAssets(arch).binary for arch in ARCHITECTURES)
PLACE_SUFFIX: Final = ".kubeferry-install"
"""`.<name>.kubeferry-install`: the hidden name a file is copied to before its rename."""
INSTALL_STAGING_SUFFIX: Final = "-install"


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


def _same_file(destination: Path, size: int, sha256: str) -> bool:
    """True when a plain file with these bytes is already there (a link there is replaced)."""
    try:
        found = os.lstat(destination)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(found.st_mode) or found.st_size != size:
        return False
    return sha256_file(destination) == sha256


def _copy_verified(source: Path, temporary: Path, sha256: str) -> None:
    """Copy `source` to `temporary`, hashing the bytes copied: only verified bytes are placed."""
    hasher = hashlib.sha256()
    with (
        os.fdopen(open_regular(source, error=UnsafePathError), "rb") as reader,
        open_for_writing(temporary, append=False) as writer,
    ):
        copy_hashing(reader, writer, [hasher])
        writer.flush()
        os.fsync(writer.fileno())
    if hasher.hexdigest() != sha256:
        raise BundleError(
            f"{source} changed while it was copied (sha256 {hasher.hexdigest()}, the manifest "
            f"says {sha256}); it was not placed. Copy the bundle again.",
            path=source,
            expected=sha256,
            actual=hasher.hexdigest(),
        )


def place_file(
    source: Path, destination: Path, sha256: str, *, executable: bool, link: bool = False
) -> None:
    """Copy (or hard-link) `source` to a hidden temporary name beside `destination`, then rename."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}{PLACE_SUFFIX}")
    remove_plain(temporary)
    try:
        linked = False
        if link:
            try:
                os.link(source, temporary, follow_symlinks=False)
                linked = True
            except OSError:
                linked = False
        if not linked:
            _copy_verified(source, temporary, sha256)
        if executable:
            temporary.chmod(0o755)
        temporary.replace(destination)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(
                f"could not place {destination} from {source}: {exc.strerror or exc}. Nothing "
                "half-written was left; free some space or fix the folder's permissions, then "
                "run 'kubeferry bundle install' again.",
                path=destination,
            ) from exc
        raise


def install_staging(cache_dir: Path, tag: str) -> Path:
    """`<cache>/k3s/tmp-<tag>-kubeferry-install`: where an installed version is assembled."""
    return k3s_root(cache_dir) / f"{staging_folder_name(tag)}{INSTALL_STAGING_SUFFIX}"


def _fresh_folder(path: Path) -> None:
    """An empty folder at `path` (a leftover one from a killed run is removed first)."""
    if path.is_symlink():
        raise UnsafePathError(
            f"{path} is a symbolic link where kubeferry stages files; remove it and run again.",
            path=path,
        )
    if path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True)


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


def _place_entry(
    folder: Path, entry: ManifestFile, destination: Path, result: InstallReport, *, link: bool
) -> None:
    """One file into its place, unless the same bytes are already there."""
    if _same_file(destination, entry.size, entry.sha256):
        result.present.append(entry.path)
        return
    source = inside(folder, tuple(entry.path.split("/")))
    executable = entry.kind == "kubectl" or entry.place.name in K3S_BINARIES
    place_file(source, destination, entry.sha256, executable=executable, link=link)
    result.placed.append(entry.path)


def _place_version(
    folder: Path,
    cache_dir: Path,
    final: Path,
    items: list[tuple[ManifestFile, Path]],
    result: InstallReport,
    *,
    link: bool,
) -> None:
    """A version the cache lacks: assembled in a hidden staging folder, renamed into place whole
    (Rancher Desktop never sees a version folder holding only some of its files)."""
    staging = install_staging(cache_dir, final.name)
    _fresh_folder(staging)
    for entry, destination in items:
        _place_entry(folder, entry, staging / destination.name, result, link=link)
    staging.rename(final)


def install_bundle(
    folder: Path, target: LocalTarget, *, link: bool = False, verified: VerifyReport | None = None
) -> InstallReport:
    """Verify `folder` (unless `verified` is its report, made under its lock), then place what is
    for `target`; merge its catalog. Idempotent."""
    verified = verified or verify_bundle(folder)
    verified.require_ok()
    entries = verified.manifest.files
    bundled = _bundled_catalog(folder, entries)  # before anything is placed
    result = InstallReport(target)
    new_versions: dict[Path, list[tuple[ManifestFile, Path]]] = {}
    for entry in entries:
        destination = target.destination(entry.place)
        if destination is None:
            if entry.kind == "kubectl":
                result.skipped.append((entry.path, "another OS or arch than the target"))
            continue
        folder_of_version = destination.parent if entry.place.kind == "k3s" else None
        if folder_of_version is not None and not os.path.lexists(folder_of_version):
            new_versions.setdefault(folder_of_version, []).append((entry, destination))
            continue
        _place_entry(folder, entry, destination, result, link=link)
    for final, items in new_versions.items():
        _place_version(folder, target.cache_dir, final, items, result, link=link)
    merge = merge_into_file(
        target.catalog_path,
        bundled,
        fallback=Catalog(versions=()),
        prefer=cached_folder_tags(target.cache_dir),
    )
    result.catalog_changed, result.unreadable_catalog = merge.changed, merge.kept_aside
    return result
