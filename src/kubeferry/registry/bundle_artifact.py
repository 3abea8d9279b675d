"""Bundles as OCI artifacts: one image manifest per bundle, one layer per file.

The manifest has its own `artifactType`, the empty `{}` config, and one layer per bundle file
whose `org.opencontainers.image.title` is the bundle-relative path (so ORAS-style tools list and
fetch files by name); the bundle manifest `kubeferry-bundle.json` is a layer too. Nothing pulled
is trusted: titles must be safe relative paths listed in the bundle manifest with the same
digest and size, every blob is hashed while it streams, and the folder is verified as a bundle
before it is called pulled. The bundle manifest gets its final name last, as `bundle create`
does, so an interrupted pull never looks like a finished bundle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from kubeferry.bundle.manifest import (
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    Manifest,
    check_relative_path,
    parse_manifest,
)
from kubeferry.core.image_names import Reference
from kubeferry.core.layouts import MANIFEST_NAME
from kubeferry.errors import RegistryError, UnsafePathError
from kubeferry.files.hashing import sha256_file
from kubeferry.files.textfiles import decode_text, parse_json, read_bytes
from kubeferry.jobs.parallel import run_parallel
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.oci.client import MANIFEST_LIMIT, BlobSource, RegistryClient
from kubeferry.oci.media import OCI_MANIFEST, descriptor, manifest_json, sha256_digest
from kubeferry.registry.blobs import (
    EMPTY_CONFIG,
    EMPTY_CONFIG_DIGEST,
    EMPTY_CONFIG_TYPE,
    BlobOutcome,
    empty_config_source,
    ensure_blobs,
    summarize,
)
from kubeferry.verification.bundle import verify_bundle, verify_files

ARTIFACT_TYPE: Final = "application/vnd.kubeferry.bundle.v1"
FILE_TYPE: Final = "application/vnd.kubeferry.bundle.file.v1"
MANIFEST_LAYER_TYPE: Final = "application/vnd.kubeferry.bundle.manifest.v1+json"
TITLE: Final = "org.opencontainers.image.title"
PULLING_NAME: Final = f".{MANIFEST_NAME}.pulling"


@dataclass(frozen=True)
class BundleTransfer:
    """What a push or pull did."""

    reference: str
    digest: str
    blobs: tuple[BlobOutcome, ...]

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "reference": self.reference,
            "digest": self.digest,
            **summarize(self.blobs),
            "blobs": [b.as_dict() for b in self.blobs],
        }


def _checked_bundle(folder: Path) -> Manifest:
    report = verify_bundle(folder)
    if report.bad:
        listing = "; ".join(f"{path}: {why}" for path, why in report.bad)
        raise RegistryError(
            f"bundle {folder} failed verification, so nothing was pushed: {listing}. Recreate "
            "it with 'kubeferry bundle create' (or copy it again).",
            path=folder,
        )
    return report.manifest


def push_bundle(
    client: RegistryClient,
    folder: Path,
    ref: Reference,
    *,
    mount_from: Sequence[str] = (),
    progress: ProgressFactory = lambda label: None,
    workers: int = 4,
) -> BundleTransfer:
    """Verify `folder`, upload what the registry lacks, then put the artifact manifest."""
    manifest = _checked_bundle(folder)
    manifest_path = folder / MANIFEST_NAME
    manifest_digest = "sha256:" + sha256_file(manifest_path)
    manifest_size = manifest_path.stat().st_size
    layers: list[dict[str, Any]] = []
    blobs = [(EMPTY_CONFIG_DIGEST, len(EMPTY_CONFIG), "config", empty_config_source)]
    for entry in manifest.files:
        digest, path = "sha256:" + entry.sha256, folder / entry.path
        layers.append(descriptor(FILE_TYPE, digest, entry.size, annotations={TITLE: entry.path}))
        blobs.append(
            (
                digest,
                entry.size,
                entry.path,
                partial(BlobSource, digest, entry.size, path),
            )
        )
    layers.append(
        descriptor(
            MANIFEST_LAYER_TYPE, manifest_digest, manifest_size, annotations={TITLE: MANIFEST_NAME}
        )
    )
    blobs.append(
        (
            manifest_digest,
            manifest_size,
            MANIFEST_NAME,
            lambda: BlobSource(manifest_digest, manifest_size, manifest_path),
        )
    )
    outcomes = ensure_blobs(
        client, ref.repository, blobs, mount_from=mount_from, progress=progress, workers=workers
    )
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor(EMPTY_CONFIG_TYPE, EMPTY_CONFIG_DIGEST, len(EMPTY_CONFIG)),
        "layers": layers,
        "annotations": {"org.opencontainers.image.created": manifest.created},
    }
    digest = client.put_manifest(
        ref.repository, ref.reference, manifest_json(document), OCI_MANIFEST
    )
    return BundleTransfer(str(ref), digest, tuple(outcomes))


# -- pull -------------------------------------------------------------------------------------


def _refuse(ref: Reference, what: str) -> UnsafePathError:
    return UnsafePathError(
        f"{ref} {what}. The artifact was refused and nothing was placed; push the bundle again "
        "with 'kubeferry bundle push' from a verified folder.",
        url=str(ref),
    )


def _artifact_layers(ref: Reference, kind: str, body: bytes) -> list[dict[str, Any]]:
    """The layers of a kubeferry bundle manifest; RegistryError for any other artifact."""
    document = parse_json(
        body,
        source=f"the manifest of {ref}",
        fix="The artifact was refused and nothing was placed.",
        error=RegistryError,
        max_bytes=MANIFEST_LIMIT,
    )
    if (
        not isinstance(document, dict)
        or kind != OCI_MANIFEST
        or document.get("artifactType") != ARTIFACT_TYPE
        or not isinstance(document.get("layers"), list)
    ):
        raise RegistryError(
            f"{ref} is not a kubeferry bundle (media type {kind or 'unknown'}, artifactType "
            f"{document.get('artifactType') if isinstance(document, dict) else None!r}). Check "
            "the reference; 'kubeferry bundle push' makes bundles.",
            url=str(ref),
        )
    if len(document["layers"]) > MAX_FILES + 1:
        raise _refuse(
            ref,
            f"lists {len(document['layers'])} layers; a bundle holds at most {MAX_FILES} files "
            "and its manifest",
        )
    return [layer for layer in document["layers"] if isinstance(layer, dict)]


def _title(ref: Reference, layer: dict[str, Any]) -> str:
    title = (layer.get("annotations") or {}).get(TITLE)
    if not isinstance(title, str):
        raise _refuse(ref, f"has a layer {layer.get('digest')} without a file name ({TITLE})")
    try:
        check_relative_path(title, source=str(ref))
    except UnsafePathError as exc:
        raise _refuse(ref, f"names a file {title!r} outside the bundle folder") from exc
    return title


def _no_links(folder: Path, relative: str) -> Path:
    """`folder/relative`, refusing a symbolic link anywhere on the way."""
    current = folder
    for part in relative.split("/"):
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(
                f"{current} is a symbolic link; a pulled bundle is written as plain files only. "
                "Remove the link or pull into an empty folder.",
                path=current,
            )
    return current


def _plan_pull(
    ref: Reference, layers: list[dict[str, Any]], manifest: Manifest
) -> list[dict[str, Any]]:
    listed = {entry.path: entry for entry in manifest.files}
    plan = []
    for layer in layers:
        title = _title(ref, layer)
        if title == MANIFEST_NAME:
            continue
        entry = listed.pop(title, None)
        if entry is None:
            raise _refuse(ref, f"has a layer {title!r} that its bundle manifest does not list")
        if layer.get("digest") != f"sha256:{entry.sha256}" or layer.get("size") != entry.size:
            raise _refuse(
                ref, f"has a layer {title!r} whose digest or size differs from its manifest"
            )
        plan.append(layer)
    if listed:
        raise _refuse(ref, f"lacks layers for {', '.join(sorted(listed))}")
    return plan


def _pull_manifest(
    client: RegistryClient,
    ref: Reference,
    layers: list[dict[str, Any]],
    pulling: Path,
) -> Manifest:
    """Fetch the bundle manifest layer into `pulling` (size-limited) and parse it; before any
    bundle file is created, so a manifest listing too many files creates none."""
    manifest_layers = [layer for layer in layers if _title(ref, layer) == MANIFEST_NAME]
    if len(manifest_layers) != 1:
        raise _refuse(ref, f"has {len(manifest_layers)} {MANIFEST_NAME} layers, not one")
    head = manifest_layers[0]
    size = head.get("size")
    if not isinstance(size, int) or not 0 < size <= MAX_MANIFEST_BYTES:
        raise _refuse(
            ref,
            f"has a {MANIFEST_NAME} layer of size {size!r}; kubeferry reads bundle manifests "
            f"of at most {MAX_MANIFEST_BYTES} bytes",
        )
    client.fetch_blob(ref.repository, head["digest"], pulling, size=size)
    source = f"{ref} ({MANIFEST_NAME})"
    return parse_manifest(
        decode_text(read_bytes(pulling, missing="", error=RegistryError), source=source),
        source=source,
    )


def pull_bundle(
    client: RegistryClient,
    ref: Reference,
    folder: Path,
    *,
    progress: ProgressFactory = lambda label: None,
    workers: int = 4,
) -> BundleTransfer:
    """Fetch the artifact into `folder` (resumable, every digest checked), then verify it."""
    kind, body = client.get_manifest(ref.repository, ref.reference)
    if ref.digest and sha256_digest(body) != ref.digest:
        raise RegistryError(
            f"{ref}: the registry answered a manifest with digest {sha256_digest(body)}. The "
            "registry or a proxy altered it; nothing was placed.",
            url=str(ref),
            expected=ref.digest,
            actual=sha256_digest(body),
        )
    layers = _artifact_layers(ref, kind, body)
    folder.mkdir(parents=True, exist_ok=True)
    pulling = _no_links(folder, PULLING_NAME)
    manifest = _pull_manifest(client, ref, layers, pulling)
    plan = _plan_pull(ref, layers, manifest)

    def fetch(layer: dict[str, Any]) -> BlobOutcome:
        title = layer["annotations"][TITLE]
        result = client.fetch_blob(
            ref.repository,
            layer["digest"],
            _no_links(folder, title),
            size=layer["size"],
            progress=progress(title),
        )
        how = "present" if result.skipped else "fetched"
        return BlobOutcome(layer["digest"], layer["size"], how, title, transferred=result.fetched)

    outcomes = run_parallel(
        [partial(fetch, layer) for layer in plan], workers=workers, cancel=client.cancel
    )
    report = verify_files(folder, manifest)  # before the manifest gets its name
    if report.bad:
        listing = "; ".join(f"{path}: {why}" for path, why in report.bad)
        raise RegistryError(
            f"{ref} pulled into {folder} but does not verify: {listing}.", url=str(ref)
        )
    pulling.replace(folder / MANIFEST_NAME)
    return BundleTransfer(str(ref), sha256_digest(body), tuple(outcomes))
