"""`bundle create --image`: workload images into the bundle's OCI layout, as a service."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kubeferry.bundle.images import LAYOUT_DOCUMENT, ImagePin, index_document
from kubeferry.bundle.manifest import ManifestFile
from kubeferry.core.image_names import Reference, parse_image_reference
from kubeferry.core.layouts import IMAGES_FOLDER
from kubeferry.errors import UsageError
from kubeferry.files.hashing import sha256_file
from kubeferry.files.safe import inside, write_text_atomically
from kubeferry.files.textfiles import decode_text, read_bytes
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.oci.auth import Credentials, docker_config_credentials, docker_config_path
from kubeferry.oci.client import RegistryClient
from kubeferry.registry.collect import (
    collect_images,
    endpoint_for,
    parse_source_endpoints,
    resolve_all,
)
from kubeferry.services.common import transfer_policy
from kubeferry.settings import Settings
from kubeferry.transport import http


@dataclass(frozen=True)
class ImageRequest:
    """What `--image`, `--images-file`, `--platform` and `--source-endpoint` asked for."""

    references: tuple[str, ...] = ()
    images_file: Path | None = None
    platforms: tuple[str, ...] = ()
    source_endpoints: tuple[str, ...] = ()
    username: str | None = None  # for every source registry (one Artifactory, say)
    password: str | None = None

    def parsed(self) -> tuple[Reference, ...]:
        """Every reference, expanded as Docker does, once each."""
        texts = list(self.references)
        if self.images_file is not None:
            data = read_bytes(self.images_file, missing="Give a file with one image a line.")
            for line in decode_text(data, source=str(self.images_file)).splitlines():
                text = line.split("#", 1)[0].strip()
                if text:
                    texts.append(text)
        return tuple(dict.fromkeys(parse_image_reference(text) for text in texts))

    def chosen_platforms(self, arches: Sequence[str]) -> tuple[str, ...]:
        """`--platform` values, else `linux/<arch>` for each arch."""
        for value in self.platforms:
            if value != "all" and len(value.split("/")) not in (2, 3):
                raise UsageError(f"--platform {value!r} is not OS/ARCH[/VARIANT] or all.")
        return self.platforms or tuple(f"linux/{arch}" for arch in arches)


class _Clients:
    """One registry client per source registry host, made on first use, closed at the end."""

    def __init__(
        self, settings: Settings, endpoints: dict[str, str], given: Credentials | None
    ) -> None:
        self._settings = settings
        self._given = given
        self._endpoints = endpoints
        self._made: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def __call__(self, registry: str) -> RegistryClient:
        with self._lock:
            client = self._made.get(registry)
            if client is None:
                endpoint = endpoint_for(registry, self._endpoints)
                http.ensure_online(self._settings.offline, endpoint or f"https://{registry}/v2/")
                home = Path(self._settings.environ.get("HOME") or self._settings.home)
                config = docker_config_path(self._settings.environ, home)
                client = RegistryClient(
                    registry,
                    credentials=self._given or docker_config_credentials(registry, config),
                    endpoint=endpoint,
                    cancel=self._settings.cancel,
                    policy=transfer_policy(self._settings),
                )
                self._made[registry] = client
            return client

    def close(self) -> None:
        for client in self._made.values():
            client.close()


@contextlib.contextmanager
def _clients(
    settings: Settings, endpoints: dict[str, str], given: Credentials | None
) -> Iterator[_Clients]:
    made = _Clients(settings, endpoints, given)
    try:
        yield made
    finally:
        made.close()


def _given(request: ImageRequest) -> Credentials | None:
    if request.username is None:
        return None
    return Credentials(request.username, request.password or "", source="--username")


def plan_images(settings: Settings, request: ImageRequest) -> list[ImagePin]:
    """The pins `bundle create --dry-run` shows: manifests read and checked, no blob fetched."""
    references = request.parsed()
    if not references:
        return []
    platforms = request.chosen_platforms(settings.arches)
    endpoints = parse_source_endpoints(request.source_endpoints, settings.environ)
    with _clients(settings, endpoints, _given(request)) as clients:
        return [
            image.pin()
            for image in resolve_all(clients, references, platforms, cancel=settings.cancel)
        ]


def collect_into_bundle(
    settings: Settings,
    folder: Path,
    request: ImageRequest,
    *,
    progress: ProgressFactory = lambda label: None,
) -> tuple[list[ImagePin], list[ManifestFile]]:
    """Fetch the requested images into `folder/images/` and write its layout files."""
    references = request.parsed()
    if not references:
        return [], []
    platforms = request.chosen_platforms(settings.arches)
    endpoints = parse_source_endpoints(request.source_endpoints, settings.environ)
    with _clients(settings, endpoints, _given(request)) as clients:
        pins, entries = collect_images(
            clients, folder, references, platforms, progress=progress, cancel=settings.cancel
        )
    layout = inside(folder, (IMAGES_FOLDER,))
    for name, text in (("oci-layout", LAYOUT_DOCUMENT), ("index.json", index_document(pins))):
        path = layout / name
        write_text_atomically(path, text)
        relative = f"{IMAGES_FOLDER}/{name}"
        entries.append(ManifestFile(relative, path.stat().st_size, sha256_file(path), ""))
    return pins, entries
