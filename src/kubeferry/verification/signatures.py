"""The cryptography of bundle signatures: key pairs, fingerprints, signing and checking.

A signature is ECDSA over SHA-256 of `kubeferry-bundle.json`'s exact bytes, DER-encoded, stored
as base64: what `cosign sign-blob` writes and what `openssl dgst -sha256 -verify pub.pem
-signature sig.der` checks after `base64 -d`. Keys are standard PEM: PKCS#8 private keys
(optionally passphrase-encrypted), SubjectPublicKeyInfo public keys. A key's fingerprint is the
SHA-256 of its public key's DER SubjectPublicKeyInfo, in hex, so an auditor can recompute it with
`openssl pkey -pubin -in kubeferry.pub -outform DER | sha256sum`.

This module imports `cryptography` (OpenSSL bindings): only commands that sign or check a
signature import it, never a local command that does neither.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubeferry.errors import KeyFileError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import read_bytes

PRIVATE_KEY_NAME: Final = "kubeferry.key"
PUBLIC_KEY_NAME: Final = "kubeferry.pub"
MAX_SIGNATURE_BYTES: Final = 1024
"""A P-256 signature is 70-72 DER bytes (about 96 in base64); a P-521 one under 200."""


@dataclass(frozen=True)
class PublicKey:
    """A public key read from a file, with its fingerprint."""

    path: Path
    fingerprint: str
    key: ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class PrivateKey:
    """A private key read from a file, with its public key's fingerprint."""

    path: Path
    fingerprint: str
    key: ec.EllipticCurvePrivateKey


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class KeyPair:
    """What `keys generate` wrote."""

    private_path: Path
    public_path: Path
    fingerprint: str
    encrypted: bool


def generate_key_pair(folder: Path, password: bytes | None) -> KeyPair:
    """Write `kubeferry.key` (0600, PKCS#8 PEM, encrypted when `password`) and `kubeferry.pub`
    into `folder`; an existing key is never replaced."""
    private_path, public_path = folder / PRIVATE_KEY_NAME, folder / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise KeyFileError(
                f"{path} already exists; kubeferry never replaces a key (bundles signed with it "
                "would no longer verify against a new one). Choose another folder, or move the "
                "old pair away first.",
                path=path,
            )
    key = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_text_atomically(private_path, private_pem.decode("ascii"), mode=0o600)
    write_text_atomically(public_path, public_pem.decode("ascii"))
    return KeyPair(private_path, public_path, fingerprint(key.public_key()), bool(password))


def load_public_key(path: Path, *, origin: str = "") -> PublicKey:
    """A PEM public key (ECDSA); KeyFileError naming the file, and `origin` (where it was
    configured), for anything else."""
    where = f" ({origin})" if origin else ""
    data = read_bytes(
        path,
        missing=f"It was given as a trusted key{where}; fix the path or remove it from the list.",
        error=KeyFileError,
    )
    if b"PRIVATE KEY-----" in data:
        raise KeyFileError(
            f"{path}{where} is a private key, not a public one. Trust the public half "
            f"({PUBLIC_KEY_NAME}) and keep the private key with the signer only.",
            path=path,
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            f"{path}{where} is not a PEM public key (a '-----BEGIN PUBLIC KEY-----' block, as "
            f"'kubeferry keys generate' writes into {PUBLIC_KEY_NAME}). Give the signer's public "
            "key file.",
            path=path,
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFileError(
            f"{path}{where} is a {type(key).__name__.removesuffix('PublicKey') or 'non-EC'} "
            "public key; kubeferry signatures are ECDSA (make a pair with 'kubeferry keys "
            "generate').",
            path=path,
        )
    return PublicKey(path, fingerprint(key), key)


def load_private_key(path: Path, password: bytes | None) -> PrivateKey:
    """A PEM private key (ECDSA), decrypted with `password` when it is encrypted."""
    data = read_bytes(
        path,
        missing="Give the private key file 'kubeferry keys generate' wrote (kubeferry.key).",
        error=KeyFileError,
    )
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        if password is None:
            raise KeyFileError(
                f"{path} is encrypted: give its passphrase on standard input with "
                "--password-stdin, or in KUBEFERRY_KEY_PASSWORD.",
                path=path,
            ) from exc
        key = serialization.load_pem_private_key(data, password=None)  # not encrypted
    except ValueError as exc:
        why = "the passphrase is wrong, or it" if password else "it"
        raise KeyFileError(
            f"{path} could not be read as a PEM private key ({why} is not one). Give the "
            f"{PRIVATE_KEY_NAME} that 'kubeferry keys generate' wrote, and its passphrase.",
            path=path,
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(
            f"{path} is not an ECDSA private key; kubeferry signs with ECDSA (make a pair with "
            "'kubeferry keys generate').",
            path=path,
        )
    return PrivateKey(path, fingerprint(key.public_key()), key)


def sign(key: PrivateKey, data: bytes) -> str:
    """The base64 text of the DER ECDSA-SHA256 signature of `data`."""
    der = key.key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der).decode("ascii")


def decode_signature(text: bytes) -> bytes:
    """The DER signature inside a signature file; ValueError saying what is wrong."""
    if len(text) > MAX_SIGNATURE_BYTES:
        raise ValueError(f"{len(text)} bytes, too long for a signature")
    try:
        der = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(der) < 8 or der[0] != 0x30:
        raise ValueError("not a DER ECDSA signature (truncated or damaged)")
    return der


def verifies(key: PublicKey, data: bytes, der: bytes) -> bool:
    """True when `der` is `key`'s ECDSA-SHA256 signature of `data`."""
    try:
        key.key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
