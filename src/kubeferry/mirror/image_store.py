"""What the mirror's registry API serves: repositories, tags, manifests and blobs (disk, read once).

Two sources, one index:
- workload images: each bundle's `images/` OCI layout. `index.json` and every manifest are read
  at startup and checked against the bundle manifest; each name comes from the full reference in
  `org.opencontainers.image.ref.name` / `io.containerd.image.name`. Manifests and blobs are
  served as bundle files (`FileRoute`), so the server hashes them before their first use and
  again when they change.
- k3s airgap images: each bundled `k3s-airgap-images-<arch>.tar[.zst]` is verified against its
  manifest, then its blobs are unpacked once into a content-addressed blob cache
  (`mirror/airgap_blobs.py`); the image manifests are the ones `images push` writes (docker-save
  layers as uncompressed OCI layers), kept in memory.

Names: a repository is (registry host, path). containerd says which registry it wants with
`?ns=<host>`; without it a path only one registry has is served, an ambiguous one refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeferry.bundle.images import CONTAINERD_NAME, REF_NAME
from kubeferry.core.image_names import DOCKER_HUB, Reference, looks_like_host, parse_image_reference
from kubeferry.core.layouts import image_blob_path
from kubeferry.core.oci_media import INDEX_TYPES, MANIFEST_LIMIT, MANIFEST_TYPES, sha256_digest
from kubeferry.errors import KubeferryError, MirrorError
from kubeferry.files.textfiles import parse_json
from kubeferry.mirror.routes import Bundle, BundleEntry, FileRoute
from kubeferry.verification.bundle import verify_file

DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Content:
    """A manifest or blob: its digest, size and type, and where its bytes are."""

    digest: str
    size: int
    media_type: str
    route: FileRoute | None = None  # a verified file (bundle or blob cache)
    body: bytes | None = None  # a manifest kept in memory (built from a verified archive)


@dataclass
class Repository:
    """One repository of one registry: its tags and the digests it may serve."""

    registry: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    digests: set[str] = field(default_factory=set)


class Ambiguous(MirrorError):
    """A path without `ns` that several registries have."""


@dataclass
class ImageStore:
    """Every repository the mirror serves, and the manifests and blobs by digest."""

    manifests: dict[str, Content] = field(default_factory=dict)
    blobs: dict[str, Content] = field(default_factory=dict)
    repositories: dict[tuple[str, str], Repository] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what could not be served, and why

    def repository(self, registry: str, name: str) -> Repository:
        """The repository (made when first named)."""
        key = (registry, name)
        if key not in self.repositories:
            self.repositories[key] = Repository(registry, name)
        return self.repositories[key]

    def add_name(self, reference: Reference, content: Content) -> Repository:
        """Tag `content` (a top manifest) in its repository."""
        repository = self.repository(reference.registry, reference.repository)
        repository.digests.add(content.digest)
        if reference.tag:
            repository.tags[reference.tag] = content.digest
        self.manifests.setdefault(content.digest, content)
        return repository

    def find(self, path: str, namespace: str | None) -> Repository | None:
        """The repository a request names; Ambiguous when several registries have `path`."""
        if namespace:
            registry = DOCKER_HUB if namespace in DOCKER_HUB_ALIASES else namespace
            names = (
                [path, f"library/{path}"] if registry == DOCKER_HUB and "/" not in path else [path]
            )
            return next(
                (
                    self.repositories[(registry, n)]
                    for n in names
                    if (registry, n) in self.repositories
                ),
                None,
            )
        first, slash, rest = path.partition("/")
        if slash and looks_like_host(first):
            registry = DOCKER_HUB if first in DOCKER_HUB_ALIASES else first
            if (registry, rest) in self.repositories:
                return self.repositories[(registry, rest)]
        found = [r for (_, name), r in self.repositories.items() if name == path]
        if len(found) > 1:
            both = " and ".join(f"{r.registry}/{r.name}" for r in found)
            raise Ambiguous(
                f"{path} is in several registries ({both}); ask with ?ns=<registry host> (as "
                "containerd does) or with the host in the path (/v2/<host>/<path>/...)."
            )
        return found[0] if found else None


def _names(annotations: object) -> list[Reference]:
    if not isinstance(annotations, dict):
        return []
    found = []
    for key in (CONTAINERD_NAME, REF_NAME):
        text = annotations.get(key)
        if isinstance(text, str) and "/" in text:
            try:
                found.append(parse_image_reference(text))
            except KubeferryError:
                continue
    return list(dict.fromkeys(found))


def _read_verified(bundle: Path, entry: BundleEntry) -> bytes:
    from kubeferry.files.safe import open_inside

    if entry.size > MANIFEST_LIMIT:
        raise MirrorError(
            f"{bundle / entry.path} is {entry.size} bytes, too large for a manifest or index "
            f"(at most {MANIFEST_LIMIT}); its images are not served."
        )
    verify_file(bundle, entry.path, entry.size, entry.sha256, consequence="It is not served.")
    with open_inside(bundle, entry.path) as stream:
        data = stream.read(entry.size + 1)
    if sha256_digest(data)[7:] != entry.sha256:
        raise MirrorError(f"{bundle / entry.path} changed while it was read; it is not served.")
    return data


def _json_object(bundle: Path, entry: BundleEntry) -> dict[str, Any]:
    """A verified manifest, index or index.json, parsed; MirrorError unless a JSON object."""
    source = str(bundle / entry.path)
    document = parse_json(
        _read_verified(bundle, entry), source=source, fix="It is not served.", error=MirrorError
    )
    if not isinstance(document, dict):
        raise MirrorError(f"{bundle / entry.path} is not a JSON object; not served.")
    return document


def _content(entries: dict[str, BundleEntry], digest: str, media_type: str) -> Content | None:
    entry = entries.get(image_blob_path(digest))
    if entry is None:
        return None
    route = FileRoute(entry.bundle, entry.path, entry.size, entry.sha256)
    return Content(digest, entry.size, media_type, route=route)


def _add_manifest(
    store: ImageStore,
    entries: dict[str, BundleEntry],
    repository: Repository,
    digest: str,
    kind: str,
) -> None:
    """Register one manifest (and, for an index, its bundled children) with its blobs."""
    if digest in repository.digests and digest in store.manifests:
        return  # done already for this repository: an index naming a child twice costs nothing
    content = _content(entries, digest, kind)
    if content is None or content.route is None:
        return
    entry = entries[image_blob_path(digest)]
    document = _json_object(entry.bundle, entry)
    kind = kind if kind in MANIFEST_TYPES else str(document.get("mediaType") or kind)
    store.manifests.setdefault(digest, Content(digest, content.size, kind, route=content.route))
    repository.digests.add(digest)
    children = document.get("manifests")
    if kind in INDEX_TYPES and isinstance(children, list):
        for child in children:
            if isinstance(child, dict) and isinstance(child.get("digest"), str):
                _add_manifest(
                    store, entries, repository, child["digest"], str(child.get("mediaType", ""))
                )
        return
    layers = document.get("layers")
    for part in [document.get("config"), *(layers if isinstance(layers, list) else [])]:
        if not isinstance(part, dict):
            continue
        blob = _content(entries, str(part.get("digest", "")), str(part.get("mediaType", "")))
        if blob is not None:
            store.blobs.setdefault(blob.digest, blob)
            repository.digests.add(blob.digest)


def add_workload_images(store: ImageStore, bundle: Bundle) -> None:
    """The bundle's `images/` layout, from its checked `index.json`."""
    entries = {e.path: e for e in bundle.entries if e.kind == "image"}
    index_entry = entries.get("images/index.json")
    if index_entry is None:
        return
    index = _json_object(bundle.folder, index_entry)
    descriptors = index.get("manifests")
    for descriptor in descriptors if isinstance(descriptors, list) else []:
        if not isinstance(descriptor, dict):
            continue
        digest, kind = str(descriptor.get("digest", "")), str(descriptor.get("mediaType", ""))
        for reference in _names(descriptor.get("annotations")):
            repository = store.repository(reference.registry, reference.repository)
            _add_manifest(store, entries, repository, digest, kind)
            if digest in store.manifests:
                store.add_name(reference, store.manifests[digest])


def build_store(bundles: Sequence[Bundle], blob_cache: Path | None) -> ImageStore:
    """The index of every workload image and (with a blob cache) every k3s airgap image."""
    from kubeferry.mirror.airgap_blobs import add_airgap_images

    store = ImageStore()
    for bundle in bundles:
        try:
            add_workload_images(store, bundle)
        except (KubeferryError, OSError) as exc:  # its files are still served (or refused)
            store.notes.append(f"the workload images of {bundle.folder} are not served: {exc}")
        if blob_cache is not None:
            add_airgap_images(store, bundle, blob_cache)
    return store
