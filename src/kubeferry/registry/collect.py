"""Collect workload images from their registries into a bundle's OCI layout (`images/`).

A reference resolves to a manifest or an index (`GET /v2/<name>/manifests/<tag or digest>`, at
most 4 MiB, its bytes checked against the digest when one was given); for an index the chosen
platforms' children are fetched by digest and checked. Everything is read and checked before
anything is written; then the manifests are written as blobs and the configs and layers come
through the download engine (`RegistryClient.fetch_blob`: resumable `.part` files, parallel,
sha256 checked while streaming, a blob already in the bundle not fetched again). A blob
redirected to another host is fetched without the registry's credentials (`oci/auth.py`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kubeferry.bundle.images import ImagePin, platform_matches, platform_name
from kubeferry.bundle.manifest import ManifestFile
from kubeferry.core.image_names import DOCKER_HUB, Reference
from kubeferry.core.layouts import IMAGES_FOLDER, image_blob_path
from kubeferry.core.oci_media import INDEX_TYPES, MANIFEST_LIMIT, MANIFEST_TYPES, sha256_digest
from kubeferry.errors import RegistryError, UsageError
from kubeferry.files.safe import inside, write_text_atomically
from kubeferry.files.textfiles import parse_json
from kubeferry.jobs.cancel import CancelToken
from kubeferry.jobs.parallel import run_parallel
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.oci.client import RegistryClient

MAX_CHILDREN: Final = 1024
MAX_LAYERS: Final = 1024
SMALL_BLOB: Final = 1024 * 1024
DOCKER_HUB_ENDPOINT: Final = "https://registry-1.docker.io"
_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
ClientFactory = Callable[[str], RegistryClient]


def parse_source_endpoints(values: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """`HOST=URL` pairs (options first, then KUBEFERRY_SOURCE_ENDPOINTS, a comma list)."""
    found: dict[str, str] = {}
    listed = [v for v in environ.get("KUBEFERRY_SOURCE_ENDPOINTS", "").split(",") if v.strip()]
    for item in [*listed, *values]:  # the options win over the environment
        host, equals, url = item.strip().partition("=")
        if not equals or not host or not url.startswith(("http://", "https://")):
            raise UsageError(
                f"the source endpoint {item!r} is not HOST=URL (for example "
                "docker.io=https://artifactory.example/v2-docker-remote); fix --source-endpoint "
                "or KUBEFERRY_SOURCE_ENDPOINTS."
            )
        found[host.strip()] = url.strip().rstrip("/")
    return found


def endpoint_for(registry: str, endpoints: Mapping[str, str]) -> str | None:
    """The URL images of `registry` are fetched from (Docker Hub's API host for docker.io)."""
    if registry in endpoints:
        return endpoints[registry]
    return DOCKER_HUB_ENDPOINT if registry == DOCKER_HUB else None


@dataclass
class Resolved:
    """One reference, read and checked: its top manifest, the chosen children, their blobs."""

    reference: Reference
    digest: str
    media_type: str
    body: bytes
    children: list[tuple[str, str, bytes]] = field(default_factory=list)  # platform, type, body
    upstream_platforms: tuple[str, ...] = ()
    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size

    def pin(self) -> ImagePin:
        """What the bundle manifest records for it."""
        platforms = tuple(platform for platform, _, _ in self.children)
        sizes = sum(self.blobs.values()) + sum(len(body) for _, _, body in self.children)
        name = Reference(
            self.reference.registry,
            self.reference.repository,
            self.reference.tag,
            self.reference.digest,
        ).full
        return ImagePin(
            name,
            self.digest,
            self.media_type,
            len(self.body),
            platforms,
            self.upstream_platforms,
            sizes + len(self.body),
        )


def _refuse(ref: Reference, client: RegistryClient, why: str) -> RegistryError:
    return RegistryError(
        f"{ref.full} from {client.url}: {why}. Nothing was stored for it; check the reference "
        "and the source registry (or its --source-endpoint).",
        url=client.url,
    )


def _document(ref: Reference, client: RegistryClient, body: bytes) -> dict[str, Any]:
    try:
        document = parse_json(
            body, source=str(ref), fix="", error=RegistryError, max_bytes=MANIFEST_LIMIT
        )
    except RegistryError as exc:
        raise _refuse(ref, client, f"the manifest is not usable JSON ({exc.message})") from exc
    if not isinstance(document, dict):
        raise _refuse(ref, client, "the manifest is not a JSON object")
    return document


def _descriptor(ref: Reference, client: RegistryClient, item: Any, limit: int) -> tuple[str, int]:
    """(digest, size) of a descriptor, each checked (sha256 only, size within `limit`)."""
    if not isinstance(item, dict):
        raise _refuse(ref, client, "a descriptor is not an object")
    digest, size = item.get("digest"), item.get("size")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise _refuse(ref, client, f"the descriptor digest {str(digest)[:80]!r} is not sha256")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= limit:
        raise _refuse(ref, client, f"the descriptor size {str(size)[:40]!r} is not usable")
    return digest, size


def _fetch_manifest(
    client: RegistryClient, ref: Reference, reference: str, size: int | None = None
) -> tuple[str, bytes, str]:
    """(media type, body, digest): checked against `reference` when it is a digest."""
    kind, body = client.get_manifest(ref.repository, reference)
    digest = sha256_digest(body)
    if reference.startswith("sha256:") and digest != reference:
        raise _refuse(ref, client, f"the manifest {reference} arrived as bytes of {digest}")
    if size is not None and len(body) != size:
        raise _refuse(ref, client, f"the manifest {reference} is {len(body)} bytes, not {size}")
    return kind, body, digest


def _image_blobs(
    ref: Reference, client: RegistryClient, document: dict[str, Any]
) -> dict[str, int]:
    layers = document.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise _refuse(ref, client, f"the image manifest has no layer list of at most {MAX_LAYERS}")
    limit = 1 << 40
    found = dict(_descriptor(ref, client, part, limit) for part in layers)
    digest, size = _descriptor(ref, client, document.get("config"), MANIFEST_LIMIT)
    found[digest] = size
    return found


def _choose(
    ref: Reference, client: RegistryClient, children: list[Any], platforms: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    listed = [(platform_name(c.get("platform")), c) for c in children if isinstance(c, dict)]
    if "all" in platforms:
        return listed
    chosen: dict[str, tuple[str, dict[str, Any]]] = {}
    for wanted in platforms:
        match = next(((p, c) for p, c in listed if platform_matches(wanted, p)), None)
        if match is not None:
            chosen.setdefault(match[0], match)
    if not chosen:
        offered = ", ".join(sorted({p for p, _ in listed})) or "none"
        raise _refuse(
            ref,
            client,
            f"none of its platforms ({offered}) is {', '.join(platforms)} "
            "(choose with --platform, or --platform all)",
        )
    return list(chosen.values())


def resolve(client: RegistryClient, ref: Reference, platforms: Sequence[str]) -> Resolved:
    """Read and check one reference's manifests (nothing written)."""
    kind, body, digest = _fetch_manifest(client, ref, ref.digest or ref.tag or "latest")
    document = _document(ref, client, body)
    kind = kind if kind in MANIFEST_TYPES else str(document.get("mediaType") or kind)
    resolved = Resolved(ref, digest, kind, body)
    if kind not in INDEX_TYPES:
        if kind not in MANIFEST_TYPES:
            raise _refuse(ref, client, f"{kind or 'an unnamed media type'} is not an image")
        resolved.blobs = _image_blobs(ref, client, document)
        resolved.children = []
        return resolved
    children = document.get("manifests")
    if not isinstance(children, list) or len(children) > MAX_CHILDREN:
        raise _refuse(ref, client, f"the index does not list at most {MAX_CHILDREN} manifests")
    resolved.upstream_platforms = tuple(
        dict.fromkeys(platform_name(c.get("platform")) for c in children if isinstance(c, dict))
    )
    for platform, child in _choose(ref, client, children, platforms):
        child_digest, size = _descriptor(ref, client, child, MANIFEST_LIMIT)
        child_kind, child_body, _ = _fetch_manifest(client, ref, child_digest, size)
        child_document = _document(ref, client, child_body)
        resolved.blobs.update(_image_blobs(ref, client, child_document))
        resolved.children.append((platform, child_kind or str(child.get("mediaType")), child_body))
    return resolved


def resolve_all(
    clients: ClientFactory,
    references: Sequence[Reference],
    platforms: Sequence[str],
    *,
    workers: int = 4,
    cancel: CancelToken | None = None,
) -> list[Resolved]:
    """Every reference read and checked, in parallel (nothing written: `--dry-run` too)."""
    resolving: list[Callable[[], Resolved]] = [
        functools.partial(lambda r: resolve(clients(r.registry), r, platforms), r)
        for r in references
    ]
    return run_parallel(resolving, workers=workers, cancel=cancel)


def _write_manifest_blob(folder: Path, body: bytes) -> ManifestFile:
    relative = image_blob_path(sha256_digest(body))
    path = inside(folder, tuple(relative.split("/")))
    write_text_atomically(path, body.decode("utf-8"), durable=False)
    return ManifestFile(relative, len(body), sha256_digest(body)[7:], "")


def fetch_order(size: int) -> tuple[int, int]:
    """Small blobs (configs, tiny layers) first, so they overlap the large ones instead of
    trailing them alone; then the largest first, so the last to start is a short one."""
    return (0, size) if size <= SMALL_BLOB else (1, -size)


def collect_images(
    clients: ClientFactory,
    folder: Path,
    references: Sequence[Reference],
    platforms: Sequence[str],
    *,
    progress: ProgressFactory = lambda label: None,
    workers: int = 4,
    cancel: CancelToken | None = None,
) -> tuple[list[ImagePin], list[ManifestFile]]:
    """Resolve every reference (all checked first), then store manifests and fetch blobs."""
    resolved = resolve_all(clients, references, platforms, workers=workers, cancel=cancel)
    entries: dict[str, ManifestFile] = {}
    for image in resolved:
        for body in (image.body, *(child for _, _, child in image.children)):
            entry = _write_manifest_blob(folder, body)
            entries[entry.path] = entry
    wanted: dict[str, tuple[Resolved, int]] = {}
    for image in resolved:
        for digest, size in image.blobs.items():
            wanted.setdefault(digest, (image, size))

    def fetch(digest: str, image: Resolved, size: int) -> ManifestFile:
        relative = image_blob_path(digest)
        destination = inside(folder, tuple(relative.split("/")))
        client = clients(image.reference.registry)
        label = f"{image.reference.repository}@{digest[7:19]}"
        result = client.fetch_blob(
            image.reference.repository, digest, destination, size=size, progress=progress(label)
        )
        return ManifestFile(relative, result.size, result.sha256, result.job.url)

    ordered = sorted(wanted.items(), key=lambda item: fetch_order(item[1][1]))
    fetching: list[Callable[[], ManifestFile]] = [
        functools.partial(fetch, d, i, s) for d, (i, s) in ordered
    ]
    fetched = run_parallel(fetching, workers=workers, cancel=cancel)
    entries.update({entry.path: entry for entry in fetched})
    return [image.pin() for image in resolved], list(entries.values())


def layout_folder(folder: Path) -> Path:
    """`<bundle>/images`, no link on the way."""
    return inside(folder, (IMAGES_FOLDER,))
