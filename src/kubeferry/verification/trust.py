"""Signed bundles: where signatures sit, who signed, and the refusal when no trusted key did.

A bundle's signatures are files beside its manifest named `kubeferry-bundle.json.<16 hex>.sig`,
the hex being the start of the signing key's fingerprint: two signers (or an old and a new key)
never write the same file, and signing again with one key replaces only that key's signature.
They are not in the manifest (they sign it). `require_trusted(folder, trust)` is the one gate
every consumer calls before it places or serves anything (install, pull, mirror serve, node
install): when at least one trusted key is configured, a bundle with no signature that one of
them verifies is refused, unless `--allow-unsigned` was given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kubeferry.bundle.manifest import Manifest, parse_manifest
from kubeferry.core.layouts import MANIFEST_NAME
from kubeferry.errors import ManifestError, SignatureError
from kubeferry.files.textfiles import decode_text, read_bytes
from kubeferry.verification.keys import Trust

if TYPE_CHECKING:
    from kubeferry.verification.signatures import PublicKey

SIGNATURE_PATTERN: Final = re.compile(re.escape(MANIFEST_NAME) + r"\.([0-9a-f]{16})\.sig")
PREFIX: Final = 16


def signature_file_name(fingerprint: str) -> str:
    """`kubeferry-bundle.json.<first 16 hex of the fingerprint>.sig`."""
    return f"{MANIFEST_NAME}.{fingerprint[:PREFIX]}.sig"


def is_signature_name(name: str) -> bool:
    """True for a bundle-relative name a signature file has."""
    return SIGNATURE_PATTERN.fullmatch(name) is not None


@dataclass(frozen=True)
class SignatureResult:
    """One signature file, checked: the key that made it, or why it counts for nothing."""

    name: str
    fingerprint: str | None = None
    key_file: str | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "file": self.name,
            "valid": self.problem is None,
            "fingerprint": self.fingerprint,
            "key_file": self.key_file,
            "problem": self.problem,
        }


@dataclass
class SignatureCheck:
    """Every signature of one bundle against the trusted keys."""

    bundle: str
    keys: list[tuple[str, str]] = field(default_factory=list)
    """(fingerprint, key file) of each trusted key tried."""
    results: list[SignatureResult] = field(default_factory=list)
    manifest: Manifest | None = None
    """The manifest parsed from the very bytes that were checked."""
    allowed_unsigned: bool = False

    @property
    def signed_by(self) -> list[SignatureResult]:
        """The signatures a trusted key verified."""
        return [r for r in self.results if r.problem is None]

    @property
    def trusted(self) -> bool:
        """At least one trusted key verified a signature."""
        return bool(self.signed_by)

    @property
    def required(self) -> bool:
        """Trusted keys are configured, so a trusted signature is required."""
        return bool(self.keys)

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "trusted_keys": [{"fingerprint": f, "file": p} for f, p in self.keys],
            "signatures": [r.as_dict() for r in self.results],
            "signed_by": [
                {"fingerprint": r.fingerprint, "key_file": r.key_file} for r in self.signed_by
            ],
            "required": self.required,
            "allowed_unsigned": self.allowed_unsigned,
        }

    def lines(self) -> list[str]:
        """What a person reads: who signed, or why nobody trusted did."""
        out = [f"signed by {r.fingerprint} ({r.key_file}) in {r.name}" for r in self.signed_by]
        out += [f"signature {r.name}: {r.problem}" for r in self.results if r.problem]
        if not self.results:
            out.append("not signed (no kubeferry-bundle.json.*.sig file)")
        if not self.keys:
            out.append("no trusted key configured: signatures are not required")
        elif not self.trusted and self.allowed_unsigned:
            out.append("no trusted signature; accepted because of --allow-unsigned")
        return out


def read_signatures(folder: Path) -> dict[str, bytes]:
    """The signature files beside a bundle's manifest, by name (read without following links)."""
    try:
        names = sorted(p.name for p in folder.iterdir() if is_signature_name(p.name))
    except OSError:
        return {}
    return {
        name: read_bytes(folder / name, missing="It vanished while read.", error=ManifestError)
        for name in names
    }


def _check_one(
    name: str, text: bytes, data: bytes, keys: Sequence[PublicKey], known: Mapping[str, str]
) -> SignatureResult:
    from kubeferry.verification.signatures import decode_signature, verifies

    try:
        der = decode_signature(text)
    except ValueError as exc:
        return SignatureResult(name, problem=f"unusable ({exc})")
    for key in keys:
        if verifies(key, data, der):
            return SignatureResult(name, key.fingerprint, key.path.name)
    match = SIGNATURE_PATTERN.fullmatch(name)
    prefix = match.group(1) if match else ""
    if prefix in known:
        return SignatureResult(
            name,
            problem=f"made for other bytes than this manifest by the trusted key {known[prefix]} "
            "(the manifest was changed after signing, or the signature was copied from "
            "another bundle)",
        )
    return SignatureResult(
        name, problem=f"not made by a trusted key (its name says key {prefix or 'unknown'}...)"
    )


def check_signatures(
    bundle: str,
    data: bytes,
    signatures: Mapping[str, bytes],
    keys: Sequence[PublicKey],
    *,
    allow_unsigned: bool = False,
) -> SignatureCheck:
    """Check each signature of the manifest bytes `data` against `keys`."""
    check = SignatureCheck(
        bundle, [(k.fingerprint, str(k.path)) for k in keys], allowed_unsigned=allow_unsigned
    )
    known = {k.fingerprint[:PREFIX]: k.path.name for k in keys}
    for name, text in sorted(signatures.items()):
        if not keys:
            check.results.append(SignatureResult(name, problem="not checked: no trusted key"))
        else:
            check.results.append(_check_one(name, text, data, keys, known))
    return check


def require(check: SignatureCheck, trust: Trust, consequence: str) -> SignatureCheck:
    """SignatureError when trusted keys are configured and none verified a signature (and
    --allow-unsigned was not given); the check otherwise."""
    if not check.required or check.trusted or trust.allow_unsigned:
        return check
    if not check.results:
        found = "it has no signature (no kubeferry-bundle.json.*.sig file beside its manifest)"
    else:
        found = "no signature verifies: " + "; ".join(
            f"{r.name}: {r.problem}" for r in check.results
        )
    tried = ", ".join(f"{fp[:PREFIX]}... ({path})" for fp, path in check.keys)
    raise SignatureError(
        f"bundle {check.bundle} is not signed by a trusted key, so {consequence}: {found}. "
        f"Keys tried: {tried}. Have its maker sign it ('kubeferry bundle sign DIR --key "
        f"kubeferry.key') and copy it again, trust the signer's public key ({trust.where()}), "
        "or pass --allow-unsigned to take it without a trusted signature.",
        path=check.bundle,
    )


def check_folder(folder: Path, trust: Trust) -> SignatureCheck:
    """The signatures beside `folder`'s manifest, checked against the trusted keys."""
    path = folder / MANIFEST_NAME
    data = read_bytes(
        path,
        missing=f"{folder} is not a kubeferry bundle (or its creation did not finish; run "
        "'kubeferry bundle create' again).",
        error=ManifestError,
    )
    keys = trust.load()
    check = check_signatures(
        str(folder), data, read_signatures(folder), keys, allow_unsigned=trust.allow_unsigned
    )
    check.manifest = parse_manifest(
        decode_text(data, source=str(path), error=ManifestError), source=str(path)
    )
    return check


def require_trusted(
    folder: Path, trust: Trust, *, consequence: str = "nothing was placed"
) -> SignatureCheck:
    """The gate before a bundle is placed or served: its check when it may be used,
    SignatureError (naming the bundle, the keys tried and the fix) when it may not.

    Compare `check.manifest` with the manifest the caller then verifies files against: equal
    means the files checked are the ones the signature covers.
    """
    return require(check_folder(folder, trust), trust, consequence)
