"""Verify a bundle: every way kubeferry checks a bundle file against its manifest.

`verify_files` re-hashes them all (`bundle verify`, before install and push); `verify_file`
checks one; `copy_verified` checks the bytes while it copies them (install, export), and
`copy_verified_descriptor` does so from an open descriptor into the mirror's private copy.
Files are opened through `files.safe.open_inside` (no link followed at any step, regular files
only); nothing from the bundle is trusted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from kubeferry.bundle.manifest import Manifest, parse_manifest
from kubeferry.core.layouts import LOCK_NAME, MANIFEST_NAME
from kubeferry.errors import BundleError, ChecksumError, ManifestError
from kubeferry.files.hashing import copy_hashing
from kubeferry.files.safe import FileKey, file_key, open_inside
from kubeferry.files.textfiles import decode_text, read_bytes
from kubeferry.verification.keys import Trust
from kubeferry.verification.trust import SignatureCheck, is_signature_name, require_trusted


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


def verify_bundle(folder: Path) -> VerifyReport:
    """Re-hash every manifest file; list missing, wrong and unlisted files."""
    return verify_files(folder, read_manifest(folder))


def verify_files(folder: Path, manifest: Manifest) -> VerifyReport:
    """Re-hash the files `manifest` lists in `folder` (a manifest not yet in place, too)."""
    report = VerifyReport(folder, manifest)
    for entry in manifest.files:
        try:
            found = measure(folder, entry.path)
        except FileNotFoundError:
            report.bad.append((entry.path, "missing"))
            continue
        except ChecksumError:
            report.bad.append((entry.path, "changed while it was being checked"))
            continue
        if found.size != entry.size:
            report.bad.append((entry.path, f"size {found.size}, expected {entry.size}"))
        elif found.digests["sha256"] != entry.sha256:
            report.bad.append(
                (entry.path, f"sha256 {found.digests['sha256']}, expected {entry.sha256}")
            )
        else:
            report.ok.append(entry.path)
    listed = {entry.path for entry in manifest.files} | {MANIFEST_NAME, LOCK_NAME}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if (
            (path.is_file() or path.is_symlink())
            and relative not in listed
            and not is_signature_name(relative)
        ):
            report.extra.append(relative)
    return report


@dataclass(frozen=True)
class Verified:
    """A file's bytes as hashed through one descriptor, with the digests computed while reading."""

    key: FileKey
    digests: dict[str, str]

    @property
    def size(self) -> int:
        """Bytes hashed."""
        return self.key[0]


def _changed(path: Path) -> ChecksumError:
    return ChecksumError(
        f"{path} changed while it was being checked; it is not used until it is stable.",
        path=path,
    )


def _mismatch(
    path: Path, size: int, sha256: str, found: int, digest: str, consequence: str
) -> ChecksumError:
    return ChecksumError(
        f"{path} does not match its bundle's manifest (expected {size} bytes, sha256 "
        f"{sha256}; found {found} bytes, sha256 {digest}). {consequence} Copy the bundle "
        "again or run 'kubeferry bundle verify' on it.",
        path=path,
        expected=sha256,
        actual=digest,
    )


def measure(folder: Path, relative: str, algorithms: Iterable[str] = ()) -> Verified:
    """Hash `folder/relative` (sha256 and `algorithms`) through one descriptor opened without
    following links; ChecksumError when it changed while it was read."""
    with open_inside(folder, relative) as stream:
        before = os.fstat(stream.fileno())
        hashers = {name: hashlib.new(name) for name in ("sha256", *algorithms)}
        copy_hashing(stream, None, hashers.values())
        after = os.fstat(stream.fileno())
    if file_key(before) != file_key(after):
        raise _changed(folder / relative)
    return Verified(file_key(before), {name: h.hexdigest() for name, h in hashers.items()})


def verify_file(
    folder: Path,
    relative: str,
    size: int,
    sha256: str,
    algorithms: Iterable[str] = (),
    *,
    consequence: str = "It was not used.",
) -> Verified:
    """Hash a bundle file (sha256 and `algorithms`); ChecksumError unless it matches."""
    found = measure(folder, relative, algorithms)
    if found.size != size or found.digests["sha256"] != sha256:
        digest = found.digests["sha256"]
        raise _mismatch(folder / relative, size, sha256, found.size, digest, consequence)
    return found


def copy_verified(
    folder: Path,
    relative: str,
    size: int,
    sha256: str,
    writer: BinaryIO,
    algorithms: Iterable[str] = (),
    *,
    consequence: str = "It was not used.",
) -> dict[str, str]:
    """Copy a bundle file into `writer`, hashing the bytes copied; ChecksumError unless they
    match (the caller removes what it wrote)."""
    path = folder / relative
    hashers = {name: hashlib.new(name) for name in ("sha256", *algorithms)}
    with open_inside(folder, relative) as source:
        written = copy_hashing(source, writer, hashers.values())
    digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    if written != size or digests["sha256"] != sha256:
        raise _mismatch(path, size, sha256, written, digests["sha256"], consequence)
    return digests


def trusted_and_verified(
    folder: Path, trust: Trust, *, consequence: str = "nothing was placed"
) -> tuple[SignatureCheck, VerifyReport]:
    """`require_trusted`, then every file re-hashed against the very manifest that was checked;
    an error (nothing used) for an untrusted or broken bundle."""
    check = require_trusted(folder, trust, consequence=consequence)
    verified = verify_bundle(folder)
    if check.manifest is not None and verified.manifest != check.manifest:
        verified.bad.append((MANIFEST_NAME, "changed while its signature was being checked"))
    verified.require_ok()
    return check, verified


def copy_verified_descriptor(
    source: int,
    target: int,
    path: Path,
    size: int,
    sha256: str,
    algorithms: Iterable[str] = (),
    *,
    consequence: str = "It was not used.",
) -> Verified:
    """Copy the open bundle file `source` into `target` (a file only the caller can write),
    hashing the bytes copied: the copy holds exactly the bytes hashed. The key is the fstat of
    `source` before it was read; ChecksumError when it changed while read or does not match."""
    before = os.fstat(source)
    hashers = {name: hashlib.new(name) for name in ("sha256", *algorithms)}
    with (
        os.fdopen(os.dup(source), "rb", buffering=0) as reader,
        os.fdopen(os.dup(target), "wb") as writer,
    ):
        reader.seek(0)
        written = copy_hashing(reader, writer, hashers.values())
    after = os.fstat(source)
    if file_key(before) != file_key(after):
        raise _changed(path)
    digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    if written != size or digests["sha256"] != sha256:
        raise _mismatch(path, size, sha256, written, digests["sha256"], consequence)
    return Verified(file_key(before), digests)
