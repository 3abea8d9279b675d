"""Verify a bundle: re-hash every file the manifest lists; nothing from it is trusted.

Files are opened without following links and must be regular files; the manifest itself too.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeferry.bundle.manifest import Manifest, parse_manifest
from kubeferry.core.layouts import MANIFEST_NAME
from kubeferry.core.textfiles import decode_text, open_regular, read_bytes
from kubeferry.errors import BundleError, ManifestError, UnsafePathError
from kubeferry.stores.lock import LOCK_NAME


@dataclass
class VerifyReport:
    """What `verify` found."""

    folder: Path
    manifest: Manifest
    ok: list[str] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`bundle verify --json`)."""
        return {
            "ok": not self.bad,
            "verified": len(self.ok),
            "bad": [{"path": p, "problem": why} for p, why in self.bad],
            "unlisted": self.extra,
        }

    def require_ok(self) -> None:
        """BundleError listing every bad file unless all matched."""
        if self.bad:
            listing = "; ".join(f"{path}: {why}" for path, why in self.bad)
            raise BundleError(
                f"bundle {self.folder} failed verification, so nothing was placed: {listing}. "
                "Copy the bundle again from the connected machine (or rerun 'kubeferry bundle "
                "create' there).",
                path=self.folder,
            )


def read_manifest(folder: Path) -> Manifest:
    """The bundle's manifest; a clear error when it is missing, a link, a FIFO or broken."""
    path = folder / MANIFEST_NAME
    data = read_bytes(
        path,
        missing=f"{folder} is not a kubeferry bundle (or its creation did not finish; run "
        "'kubeferry bundle create' again).",
        error=ManifestError,
    )
    return parse_manifest(
        decode_text(data, source=str(path), error=ManifestError), source=str(path)
    )


def inside(folder: Path, parts: tuple[str, ...]) -> Path:
    """`folder/parts`, refusing any link on the way (a link could point anywhere)."""
    current = folder
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(
                f"{current} is a symbolic link; a bundle holds plain files only. The bundle was "
                "refused and nothing was placed.",
                path=current,
            )
    return current


def hash_regular(path: Path) -> tuple[int, str] | None:
    """(size, sha256) of a regular file read without following links; None when absent."""
    try:
        descriptor = open_regular(path, error=BundleError)
    except FileNotFoundError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        return size, hashlib.file_digest(stream, "sha256").hexdigest()


def verify_bundle(folder: Path) -> VerifyReport:
    """Re-hash every manifest file; list missing, wrong and unlisted files."""
    return verify_files(folder, read_manifest(folder))


def verify_files(folder: Path, manifest: Manifest) -> VerifyReport:
    """Re-hash the files `manifest` lists in `folder` (a manifest not yet in place, too)."""
    report = VerifyReport(folder, manifest)
    for entry in manifest.files:
        found = hash_regular(inside(folder, tuple(entry.path.split("/"))))
        if found is None:
            report.bad.append((entry.path, "missing"))
        elif found[0] != entry.size:
            report.bad.append((entry.path, f"size {found[0]}, expected {entry.size}"))
        elif found[1] != entry.sha256:
            report.bad.append((entry.path, f"sha256 {found[1]}, expected {entry.sha256}"))
        else:
            report.ok.append(entry.path)
    listed = {entry.path for entry in manifest.files} | {MANIFEST_NAME, LOCK_NAME}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if (path.is_file() or path.is_symlink()) and relative not in listed:
            report.extra.append(relative)
    return report
