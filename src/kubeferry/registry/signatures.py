"""Bundle signatures through a registry: OCI referrers of the bundle's manifest.

`bundle push` stores the signature files of a bundle as one referrer manifest (artifactType
`application/vnd.kubeferry.signature.v1`, one layer per signature file titled with its file
name, `subject` = the bundle manifest's descriptor), and also lists that manifest in the
referrers tag scheme's index (tag `sha256-<hex of the bundle manifest digest>`), because CNCF
Distribution 2.8 has no referrers API. `bundle pull` asks the referrers API first and falls back
to the tag when the API answers 404. Nothing fetched is trusted: every manifest and blob is
checked against its digest, and the signatures are checked against the trusted keys before any
bundle file is fetched.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from kubeferry.core.image_names import Reference
from kubeferry.core.oci_media import (
    MANIFEST_LIMIT,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    manifest_json,
    sha256_digest,
)
from kubeferry.errors import RegistryError, SignatureError
from kubeferry.files.textfiles import parse_json
from kubeferry.oci.client import BlobSource, RegistryClient
from kubeferry.registry.blobs import (
    EMPTY_CONFIG,
    EMPTY_CONFIG_DIGEST,
    EMPTY_CONFIG_TYPE,
    BlobOutcome,
    empty_config_source,
    ensure_blobs,
)
from kubeferry.verification.keys import Trust
from kubeferry.verification.trust import (
    SignatureCheck,
    check_signatures,
    is_signature_name,
    read_signatures,
    require,
)

SIGNATURE_ARTIFACT: Final = "application/vnd.kubeferry.signature.v1"
SIGNATURE_LAYER: Final = "application/vnd.kubeferry.signature.v1+base64"
TITLE: Final = "org.opencontainers.image.title"
MAX_SIGNATURE_BLOB: Final = 1024
MAX_REFERRERS: Final = 64
"""Referrer manifests read, and signature layers taken from each: a registry cannot make a pull
fetch without end."""


def referrers_tag(digest: str) -> str:
    """The referrers tag scheme's tag for a manifest digest: `sha256-<hex>`."""
    return digest.replace(":", "-", 1)


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = parse_json(
            body, source="a referrers index", fix="", error=RegistryError, max_bytes=MANIFEST_LIMIT
        )
    except RegistryError:
        return {}
    return document if isinstance(document, dict) else {}


def _tag_index(client: RegistryClient, repository: str, tag: str) -> list[dict[str, Any]]:
    """The manifests listed under a referrers tag ([] when there is none)."""
    try:
        _, body = client.get_manifest(repository, tag, accept=(OCI_INDEX,))
    except RegistryError as exc:
        if exc.actual == "404":
            return []
        raise
    entries = _json(body).get("manifests")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _bytes_source(digest: str, data: bytes) -> BlobSource:
    return BlobSource(digest, len(data), chunks=[data])


def push_signatures(
    client: RegistryClient, ref: Reference, folder: Path, subject: dict[str, Any]
) -> list[BlobOutcome]:
    """Upload `folder`'s signature files as a referrer of `subject`; [] when it has none."""
    signatures = read_signatures(folder)
    if not signatures:
        return []
    layers: list[dict[str, Any]] = []
    blobs: list[tuple[str, int, str, Callable[[], BlobSource]]] = [
        (EMPTY_CONFIG_DIGEST, len(EMPTY_CONFIG), "config", empty_config_source)
    ]
    for name, data in sorted(signatures.items()):
        digest = sha256_digest(data)
        layers.append(descriptor(SIGNATURE_LAYER, digest, len(data), annotations={TITLE: name}))
        blobs.append((digest, len(data), name, functools.partial(_bytes_source, digest, data)))
    outcomes = ensure_blobs(client, ref.repository, blobs)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT,
        "config": descriptor(EMPTY_CONFIG_TYPE, EMPTY_CONFIG_DIGEST, len(EMPTY_CONFIG)),
        "layers": layers,
        "subject": subject,
    }
    body = manifest_json(document)
    digest = sha256_digest(body)
    client.put_manifest(ref.repository, digest, body, OCI_MANIFEST)
    tag = referrers_tag(subject["digest"])
    listed = [e for e in _tag_index(client, ref.repository, tag) if e.get("digest") != digest]
    listed.append(descriptor(OCI_MANIFEST, digest, len(body), artifactType=SIGNATURE_ARTIFACT))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}
    client.put_manifest(ref.repository, tag, manifest_json(index), OCI_INDEX)
    return outcomes


def _referrers(client: RegistryClient, repository: str, digest: str) -> list[dict[str, Any]]:
    body = client.get_referrers(repository, digest)
    if body is not None:
        entries = _json(body).get("manifests")
        found = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    else:
        found = _tag_index(client, repository, referrers_tag(digest))
    return [e for e in found if e.get("artifactType") == SIGNATURE_ARTIFACT]


def _signature_layers(
    client: RegistryClient, ref: Reference, entry: dict[str, Any], subject: str
) -> list[dict[str, Any]]:
    """The signature layers of one referrer manifest ([] when it is gone or not for `subject`)."""
    wanted = entry.get("digest")
    if not isinstance(wanted, str) or not wanted.startswith("sha256:"):
        return []
    try:
        _, body = client.get_manifest(ref.repository, wanted, accept=(OCI_MANIFEST,))
    except RegistryError as exc:
        if exc.actual == "404":  # listed, but deleted since: no signature from it
            return []
        raise
    document = _json(body)
    if sha256_digest(body) != wanted or (document.get("subject") or {}).get("digest") != subject:
        return []  # altered, or another manifest's: its signatures cannot count here
    layers = document.get("layers")
    return [
        layer
        for layer in (layers if isinstance(layers, list) else [])
        if isinstance(layer, dict)
        and is_signature_name(str((layer.get("annotations") or {}).get(TITLE, "")))
        and isinstance(layer.get("size"), int)
        and 0 < layer["size"] <= MAX_SIGNATURE_BLOB
    ]


def fetch_signatures(
    client: RegistryClient, ref: Reference, subject: str, folder: Path
) -> dict[str, bytes]:
    """The signature files referring to the bundle manifest `subject`, by file name."""
    found: dict[str, bytes] = {}
    for entry in _referrers(client, ref.repository, subject)[:MAX_REFERRERS]:
        for layer in _signature_layers(client, ref, entry, subject)[:MAX_REFERRERS]:
            name = layer["annotations"][TITLE]
            landing = folder / f".{name}.pulling"
            try:
                client.fetch_blob(ref.repository, layer["digest"], landing, size=layer["size"])
                found[name] = landing.read_bytes()
            finally:
                landing.unlink(missing_ok=True)
    return found


def check_pulled(
    ref: Reference, data: bytes, signatures: dict[str, bytes], trust: Trust
) -> SignatureCheck:
    """The pulled manifest bytes' signatures against the trusted keys; SignatureError (nothing
    more fetched) when keys are configured and none signed."""
    check = check_signatures(
        str(ref), data, signatures, trust.load(), allow_unsigned=trust.allow_unsigned
    )
    return require(check, trust, "no bundle file was fetched")


def keep_signatures(folder: Path, signatures: dict[str, bytes]) -> None:
    """Write the fetched signature files beside the pulled bundle; drop stale ones."""
    from kubeferry.files.safe import write_text_atomically

    for stale in read_signatures(folder):
        if stale not in signatures:
            (folder / stale).unlink()
    for name, data in signatures.items():
        write_text_atomically(folder / name, data.decode("ascii", "replace"))


def refused(pulling: Path, folder: Path, created: bool, exc: SignatureError) -> SignatureError:
    """Remove what a refused pull wrote (the manifest it fetched, the folder it made)."""
    pulling.unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            folder.rmdir()
    return exc
