"""`keys generate` and `bundle sign` as services over verification/signatures and trust."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeferry.bundle.manifest import Manifest, parse_manifest
from kubeferry.core.layouts import MANIFEST_NAME
from kubeferry.errors import BundleError, ManifestError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import decode_text, read_bytes
from kubeferry.settings import Settings
from kubeferry.stores.lock import hold
from kubeferry.verification.bundle import verify_files
from kubeferry.verification.signatures import (
    KeyPair,
    PrivateKey,
    PublicKey,
    decode_signature,
    generate_key_pair,
    load_private_key,
    sign,
    verifies,
)
from kubeferry.verification.trust import signature_file_name


def generate_keys(folder: Path, password: bytes | None) -> KeyPair:
    """A new ECDSA P-256 pair in `folder` (created if absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    return generate_key_pair(folder, password)


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


def load_signing_key(key_file: Path, password: bytes | None) -> PrivateKey:
    """The private key, read before any work starts (a wrong passphrase fails at once)."""
    return load_private_key(key_file, password)


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


def sign_bundle(
    settings: Settings, folder: Path, key_file: Path, password: bytes | None
) -> SignedBundle:
    """Verify `folder` and write its signature by `key_file` (the bundle's lock held, as
    `bundle create` holds it)."""
    if not (folder / MANIFEST_NAME).is_file():
        raise ManifestError(
            f"{folder} is not a kubeferry bundle (no {MANIFEST_NAME}); give the folder "
            "'kubeferry bundle create' made.",
            path=folder,
        )
    key = load_signing_key(key_file, password)
    with hold(folder, announce=settings.announce, what=f"the bundle {folder}"):
        return sign_held_bundle(folder, key)
