"""`images push BUNDLE`: the bundle's workload images (its `images/` OCI layout) into a registry.

Each image keeps its repository path under the target (`docker.io/library/busybox:1.36` ->
`REGISTRY[/PREFIX]/library/busybox:1.36`). Every file pushed is first checked against the
bundle manifest. Manifests and blobs go byte for byte, so digests stay upstream's; the one
exception is an index whose platforms were partly left out at create time: a registry refuses an
index whose children it lacks, so a filtered index (only the bundled children, same order) is
pushed under the tag instead, and the report gives its new digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubeferry.bundle.images import CONTAINERD_NAME, REF_NAME
from kubeferry.bundle.manifest import ManifestFile
from kubeferry.core.image_names import Reference, parse_image_reference, target_reference
from kubeferry.core.layouts import image_blob_path
from kubeferry.core.oci_media import INDEX_TYPES, MANIFEST_LIMIT, manifest_json, sha256_digest
from kubeferry.errors import BundleError, ImageArchiveError, KubeferryError
from kubeferry.files.safe import open_inside
from kubeferry.files.textfiles import parse_json
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.oci.client import BlobSource, RegistryClient
from kubeferry.registry.blobs import BlobOutcome, ensure_blobs
from kubeferry.registry.images_push import ImagesPush, PushedImage
from kubeferry.verification.bundle import read_manifest, verify_file


class _Layout:
    """The bundle's image files, each read only after it matched the manifest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        manifest = read_manifest(folder)
        self.files: dict[str, ManifestFile] = {
            f.path: f for f in manifest.files if f.kind == "image"
        }

    def has(self, digest: str) -> bool:
        return image_blob_path(digest) in self.files

    def read(self, relative: str) -> bytes:
        entry = self.files.get(relative)
        if entry is None:
            raise BundleError(
                f"{self.folder} lists no {relative} in its manifest; recreate the bundle.",
                path=self.folder,
            )
        with open_inside(self.folder, relative) as stream:  # the bytes checked are the bytes used
            data = stream.read(entry.size + 1)
        if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
            raise BundleError(
                f"{self.folder / relative} does not match its bundle's manifest; nothing was "
                "pushed. Copy the bundle again or run 'kubeferry bundle verify' on it.",
                path=self.folder / relative,
            )
        return data

    def source(self, digest: str, size: int) -> Callable[[], BlobSource]:
        relative = image_blob_path(digest)

        def make() -> BlobSource:
            entry = self.files[relative]
            verify_file(
                self.folder, relative, entry.size, entry.sha256, consequence="Nothing was pushed."
            )
            return BlobSource(digest, size, path=self.folder / relative)

        return make


def has_images(folder: Path) -> bool:
    """The folder is a bundle with workload images."""
    return (folder / "images" / "index.json").is_file()


def _names(descriptor: dict[str, Any]) -> list[Reference]:
    annotations = descriptor.get("annotations") or {}
    names = []
    for key in (CONTAINERD_NAME, REF_NAME):
        text = annotations.get(key)
        if isinstance(text, str) and "/" in text:
            try:
                names.append(parse_image_reference(text))
            except KubeferryError:
                continue
    return list(dict.fromkeys(names))


def _push_image(
    client: RegistryClient,
    layout: _Layout,
    repository: str,
    digest: str,
    progress: ProgressFactory,
    outcomes: list[BlobOutcome],
) -> tuple[str, bytes]:
    """Push one image manifest's blobs then the manifest by digest; (media type, body)."""
    body = layout.read(image_blob_path(digest))
    document = _object(body, image_blob_path(digest))
    kind = str(document.get("mediaType") or "application/vnd.oci.image.manifest.v1+json")
    parts = [document.get("config") or {}, *(document.get("layers") or [])]
    blobs = [
        (
            p["digest"],
            p["size"],
            f"{repository}@{p['digest'][7:19]}",
            layout.source(p["digest"], p["size"]),
        )
        for p in parts
    ]
    outcomes += ensure_blobs(client, repository, blobs, progress=progress)
    client.put_manifest(repository, digest, body, kind)
    return kind, body


def _push_named(
    client: RegistryClient,
    layout: _Layout,
    target: Reference,
    descriptor: dict[str, Any],
    progress: ProgressFactory,
    outcomes: list[BlobOutcome],
) -> str:
    """Push one named image (an index with its bundled children); the digest under the tag."""
    digest = str(descriptor.get("digest"))
    repository = target.repository
    if str(descriptor.get("mediaType")) not in INDEX_TYPES:
        kind, body = _push_image(client, layout, repository, digest, progress, outcomes)
        if target.tag:
            client.put_manifest(repository, target.tag, body, kind)
        return digest
    body = layout.read(image_blob_path(digest))
    index = _object(body, image_blob_path(digest))
    children = [c for c in index.get("manifests") or [] if layout.has(str(c.get("digest")))]
    for child in children:
        _push_image(client, layout, repository, str(child["digest"]), progress, outcomes)
    if len(children) != len(index.get("manifests") or []):
        body = manifest_json({**index, "manifests": children})  # a registry needs every child
    kind = str(descriptor.get("mediaType"))
    client.put_manifest(repository, target.tag or sha256_digest(body), body, kind)
    return sha256_digest(body)


def _object(body: bytes, where: str) -> dict[str, Any]:
    """A manifest, index or index.json of the bundle's layout, parsed (depth and size limited);
    ImageArchiveError unless a JSON object."""
    document = parse_json(
        body,
        source=where,
        fix="The bundle's images/ layout is damaged: copy the bundle again.",
        error=ImageArchiveError,
        max_bytes=MANIFEST_LIMIT,
    )
    if not isinstance(document, dict):
        raise ImageArchiveError(f"{where} is not a JSON object; nothing of it was pushed.")
    return document


def push_layout(
    client: RegistryClient,
    folder: Path,
    *,
    prefix: str = "",
    progress: ProgressFactory = lambda label: None,
) -> ImagesPush:
    """Push every named workload image of the bundle in `folder`."""
    layout = _Layout(folder)
    index = _object(layout.read("images/index.json"), "images/index.json")
    pushed: list[PushedImage] = []
    outcomes: list[BlobOutcome] = []
    unnamed: list[str] = []
    for descriptor in index.get("manifests") or []:
        names = _names(descriptor)
        if not names:
            unnamed.append(str(descriptor.get("digest")))
        for name in names:
            target = target_reference(name, client.registry, prefix)
            digest = _push_named(client, layout, target, descriptor, progress, outcomes)
            pushed.append(PushedImage(name.full, str(target), digest))
    return ImagesPush(
        folder / "images", tuple(pushed), tuple(outcomes), len(unnamed), tuple(unnamed)
    )
