"""Bundle files on disk, opened without following links, and read as bundles (disk).

Every folder on the way and the file itself are opened with `O_NOFOLLOW`, so a bundle file (or
folder) that is a symbolic link is refused rather than followed; the file must be a regular
file. The identity of what was hashed is `(size, mtime_ns, inode)`: when any of them changes,
the file is hashed again before it is served again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kubeferry.catalog.rules import parse_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME
from kubeferry.errors import ChecksumError
from kubeferry.files.safe import open_inside
from kubeferry.mirror.routes import Bundle, bundle_entries
from kubeferry.verification.bundle import read_manifest


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
