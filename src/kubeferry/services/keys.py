"""`keys generate` and `bundle sign` as services over verification/signatures and trust."""

from __future__ import annotations

from pathlib import Path

from kubeferry.bundle.sign import SignedBundle, sign_held_bundle
from kubeferry.core.layouts import MANIFEST_NAME
from kubeferry.errors import ManifestError
from kubeferry.settings import Settings
from kubeferry.stores.lock import hold
from kubeferry.verification.signatures import (
    KeyPair,
    PrivateKey,
    generate_key_pair,
    load_private_key,
)


def generate_keys(folder: Path, password: bytes | None) -> KeyPair:
    """A new ECDSA P-256 pair in `folder` (created if absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    return generate_key_pair(folder, password)


def load_signing_key(key_file: Path, password: bytes | None) -> PrivateKey:
    """The private key, read before any work starts (a wrong passphrase fails at once)."""
    return load_private_key(key_file, password)


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
