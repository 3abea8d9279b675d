"""Bundle files on disk, opened without following links, and read as bundles (disk).

Every folder on the way and the file itself are opened through `files.safe` from the bundle's
folder descriptor, so a bundle file (or folder) that is a symbolic link is refused rather than
followed; the file must be a regular file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kubeferry.bundle.manifest import MAX_MANIFEST_BYTES, Manifest, parse_manifest
from kubeferry.catalog.rules import parse_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME, MANIFEST_NAME
from kubeferry.errors import ChecksumError, ManifestError, SignatureError
from kubeferry.files.safe import open_inside
from kubeferry.files.textfiles import decode_text
from kubeferry.mirror.routes import Bundle, bundle_entries
from kubeferry.verification.bundle import read_manifest


def read_bundle(folder: Path, signed: Manifest | None = None) -> Bundle:
    """A bundle's manifest and catalog; the catalog is used only when it matches the manifest.

    The manifest is read once: its entries and its digest come from the same bytes, and with
    `signed` (the manifest whose signature was checked) those bytes must say the same.
    """
    path = folder / MANIFEST_NAME
    try:
        with open_inside(folder, MANIFEST_NAME) as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        read_manifest(folder)  # the error that names the missing manifest and the fix
        raise
    manifest = parse_manifest(
        decode_text(data, source=str(path), error=ManifestError), source=str(path)
    )
    if signed is not None and manifest != signed:
        raise SignatureError(
            f"{path} changed while its signature was being checked; the mirror serves nothing "
            "from it. Check who writes to the bundle folder, then start the mirror again.",
            path=path,
        )
    created, entries = bundle_entries(folder, manifest)
    digest = hashlib.sha256(data).hexdigest()
    catalog_entry = next((e for e in entries if e.kind == "catalog"), None)
    if catalog_entry is None:
        return Bundle(folder, created, entries, digest=digest)
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
    return Bundle(folder, created, entries, catalog, digest)
