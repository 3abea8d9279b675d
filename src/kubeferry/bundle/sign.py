"""Sign a bundle: a detached signature of its manifest's exact bytes, written beside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeferry.bundle.manifest import Manifest, parse_manifest
from kubeferry.core.layouts import MANIFEST_NAME
from kubeferry.errors import BundleError, ManifestError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import decode_text, read_bytes
from kubeferry.verification.bundle import verify_files
from kubeferry.verification.signatures import (
    PrivateKey,
    PublicKey,
    decode_signature,
    sign,
    verifies,
)
from kubeferry.verification.trust import signature_file_name


@dataclass(frozen=True)
class SignedBundle:
    """A signature written beside a bundle's manifest."""

    folder: Path
    signature: Path
    fingerprint: str

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "bundle": str(self.folder),
            "signature": str(self.signature),
            "fingerprint": self.fingerprint,
        }


def sign_held_bundle(
    folder: Path, key: PrivateKey, *, expected: Manifest | None = None
) -> SignedBundle:
    """Sign `folder`'s manifest bytes, for a caller that holds the bundle's lock.

    With `expected` (`bundle create --sign-key`, whose files were just verified while they
    downloaded) the bytes must parse to that manifest; without it every file is re-hashed first.
    """
    path = folder / MANIFEST_NAME
    data = read_bytes(
        path,
        missing=f"{folder} is not a kubeferry bundle (or its creation did not finish); run "
        "'kubeferry bundle create' first.",
        error=ManifestError,
    )
    manifest = parse_manifest(
        decode_text(data, source=str(path), error=ManifestError), source=str(path)
    )
    bad = [] if expected is not None else verify_files(folder, manifest).bad
    if expected is not None and manifest != expected:
        bad = [(MANIFEST_NAME, "changed while the bundle was being made")]
    if bad:
        listing = "; ".join(f"{p}: {why}" for p, why in bad)
        raise BundleError(
            f"bundle {folder} failed verification, so it was not signed: {listing}. Recreate it "
            "with 'kubeferry bundle create' and sign that.",
            path=folder,
        )
    text = sign(key, data)
    public = PublicKey(key.path, key.fingerprint, key.key.public_key())
    if not verifies(public, data, decode_signature(text.encode("ascii"))):
        raise BundleError(f"the signature of {folder} did not verify; nothing was written.")
    signature = folder / signature_file_name(key.fingerprint)
    write_text_atomically(signature, text)
    return SignedBundle(folder, signature, key.fingerprint)
