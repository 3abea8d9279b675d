"""Bundle files on disk, opened without following links, and read as bundles (disk).

Every folder on the way and the file itself are opened with `O_NOFOLLOW`, so a bundle file (or
folder) that is a symbolic link is refused rather than followed; the file must be a regular
file. The identity of what was hashed is `(size, mtime_ns, inode)`: when any of them changes,
the file is hashed again before it is served again.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from kubeferry.bundle.verify import read_manifest
from kubeferry.catalog.rules import parse_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME
from kubeferry.errors import ChecksumError, UnsafePathError
from kubeferry.fleet.mirror.routes import Bundle, bundle_entries
from kubeferry.net.hashes import copy_hashing

FileKey = tuple[int, int, int, int, int]
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)


def file_key(status: os.stat_result) -> FileKey:
    """What identifies the bytes that were hashed: size, mtime, inode, device, and ctime.

    The ctime is what makes it hold: a writer can set the mtime back (`touch -r`), but any
    write or `utime` moves the ctime, and no user can set that back.
    """
    return (
        status.st_size,
        status.st_mtime_ns,
        status.st_ino,
        status.st_dev,
        status.st_ctime_ns,
    )


def open_inside(folder: Path, relative: str) -> BinaryIO:
    """Open `folder/relative` for reading, refusing links and anything but a regular file."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(f"{relative!r} is not a plain relative path.", path=folder)
    descriptor = os.open(folder, os.O_RDONLY | _DIRECTORY)
    try:
        for part in parts[:-1]:
            following = _open_part(descriptor, part, folder, os.O_RDONLY | _DIRECTORY)
            os.close(descriptor)
            descriptor = following
        handle = _open_part(descriptor, parts[-1], folder, os.O_RDONLY)
    finally:
        os.close(descriptor)
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise UnsafePathError(
            f"{folder / relative} is not a regular file; a bundle holds plain files only.",
            path=folder / relative,
        )
    return os.fdopen(handle, "rb", buffering=0)


def _open_part(directory: int, name: str, folder: Path, flags: int) -> int:
    try:
        return os.open(name, flags | _NOFOLLOW, dir_fd=directory)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) or (
            exc.errno == errno.EMLINK  # FreeBSD says EMLINK for O_NOFOLLOW on a link
        ):
            raise UnsafePathError(
                f"{name} under {folder} is a symbolic link; a bundle holds plain files only and "
                "kubeferry never follows a link out of it. Replace the link by the file (or make "
                "the bundle again).",
                path=folder,
            ) from exc
        raise


@dataclass(frozen=True)
class Verified:
    """A file whose bytes matched the manifest, with the digests computed while reading it."""

    key: FileKey
    digests: dict[str, str]


def verify_file(
    folder: Path, relative: str, size: int, sha256: str, algorithms: Iterable[str] = ()
) -> Verified:
    """Hash a bundle file (sha256 and `algorithms`); ChecksumError unless it matches."""
    path = folder / relative
    with open_inside(folder, relative) as stream:
        before = os.fstat(stream.fileno())
        hashers = {name: hashlib.new(name) for name in ("sha256", *algorithms)}
        copy_hashing(stream, None, hashers.values())
        after = os.fstat(stream.fileno())
    digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    if file_key(before) != file_key(after):
        raise ChecksumError(
            f"{path} changed while it was being checked; it is not served until it is stable.",
            path=path,
        )
    if before.st_size != size or digests["sha256"] != sha256:
        raise ChecksumError(
            f"{path} does not match its bundle's manifest (expected {size} bytes, sha256 "
            f"{sha256}; found {before.st_size} bytes, sha256 {digests['sha256']}). It is not "
            "served. Copy the bundle again or run 'kubeferry bundle verify' on it.",
            path=path,
            expected=sha256,
            actual=digests["sha256"],
        )
    return Verified(file_key(before), digests)


def copy_verified(
    folder: Path,
    relative: str,
    size: int,
    sha256: str,
    destination: Path,
    algorithms: Iterable[str] = (),
) -> dict[str, str]:
    """Copy a bundle file to `destination`, hashing the bytes copied; ChecksumError unless they
    match (the copy is then removed)."""
    path = folder / relative
    hashers = {name: hashlib.new(name) for name in ("sha256", *algorithms)}
    with open_inside(folder, relative) as source, destination.open("xb") as target:
        written = copy_hashing(source, target, hashers.values())
    digests = {name: hasher.hexdigest() for name, hasher in hashers.items()}
    if written != size or digests["sha256"] != sha256:
        destination.unlink()
        raise ChecksumError(
            f"{path} does not match its bundle's manifest (expected {size} bytes, sha256 "
            f"{sha256}; read {written} bytes, sha256 {digests['sha256']}). Nothing was exported. "
            "Copy the bundle again or run 'kubeferry bundle verify' on it.",
            path=path,
            expected=sha256,
            actual=digests["sha256"],
        )
    return digests


def read_bundle(folder: Path) -> Bundle:
    """A bundle's manifest and catalog; the catalog is used only when it matches the manifest."""
    created, entries = bundle_entries(folder, read_manifest(folder))
    catalog_entry = next((e for e in entries if e.kind == "catalog"), None)
    if catalog_entry is None:
        return Bundle(folder, created, entries)
    with open_inside(folder, CATALOG_FILE_NAME) as stream:
        data = stream.read()
    if hashlib.sha256(data).hexdigest() != catalog_entry.sha256:
        raise ChecksumError(
            f"{folder / CATALOG_FILE_NAME} does not match its bundle's manifest; the mirror "
            "takes its channels from it, so it refuses the bundle. Copy the bundle again.",
            path=folder / CATALOG_FILE_NAME,
            expected=catalog_entry.sha256,
        )
    catalog = parse_catalog(data.decode("utf-8", "replace"), source=str(folder / CATALOG_FILE_NAME))
    return Bundle(folder, created, entries, catalog)
