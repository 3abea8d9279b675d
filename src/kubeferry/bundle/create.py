"""Create a bundle: plan it (HEAD requests for sizes), fill it, write its catalog and manifest.

The k3s files come through the one release routine (`stores/release.py`) and the kubectl files
through the one kubectl download (`stores/kubectls.py`), so a bundle is filled exactly as the
cache is: resumable, each file verified before it gets its final name. The manifest is written
last, from the digests the downloads computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx

from kubeferry.bundle.manifest import Manifest, ManifestFile
from kubeferry.bundle.plan import (
    KUBECTL_MODES,
    PlannedFile,
    k3s_files,
    kubectl_file,
    kubectl_minors,
)
from kubeferry.catalog.rules import Catalog, build_catalog, catalog_to_json
from kubeferry.core.endpoints import Endpoints
from kubeferry.core.layouts import CATALOG_FILE_NAME, MANIFEST_NAME, k3s_bundle_path
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.versions import K3sTag, KubeVersion, parse_k3s_tag
from kubeferry.download.engine import DownloadResult
from kubeferry.files.hashing import sha256_file
from kubeferry.files.safe import inside, write_text_atomically
from kubeferry.jobs.parallel import first_available, run_parallel
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.stores.kubectls import download_kubectl, resolve_kubectl_version
from kubeferry.stores.release import fetch_release
from kubeferry.transport import http


def kubectl_versions(
    client: httpx.Client, endpoints: Endpoints, choice: tuple[str, ...], tags: list[K3sTag]
) -> list[KubeVersion]:
    """The kubectl versions a bundle carries: a mode (auto, exact, none) or explicit versions."""
    if len(choice) == 1 and choice[0] in KUBECTL_MODES:
        specs = [f"{major}.{minor}" for major, minor in kubectl_minors(choice[0], tags)]
    else:
        specs = list(choice)
    resolved = run_parallel(
        [partial(resolve_kubectl_version, client, endpoints, s) for s in specs],
        cancel=http.cancel_of(client),
    )
    return list(dict.fromkeys(resolved))


def _sized(client: httpx.Client, item: PlannedFile) -> PlannedFile:
    return replace(item, size=http.head_size(client, item.url))


def _k3s_plan(
    client: httpx.Client, endpoints: Endpoints, tag: K3sTag, arch: str
) -> list[PlannedFile]:
    """The files of one tag and arch, with `.tar.zst` images when the release has them."""

    def images_plan(images: str) -> list[PlannedFile]:
        *others, archive = k3s_files(endpoints, tag, arch, images)
        sized = _sized(client, archive)  # the one that may be absent: asked first
        return [*(_sized(client, item) for item in others), sized]

    return first_available(K3sAssets(arch).images, images_plan)


def plan_bundle(
    client: httpx.Client,
    endpoints: Endpoints,
    tags: list[K3sTag],
    kubectls: list[KubeVersion],
    *,
    arches: tuple[str, ...],
    oses: tuple[str, ...],
) -> list[PlannedFile]:
    """Every file with its URL and size (HEAD requests; nothing is downloaded)."""
    tasks: list[Callable[[], list[PlannedFile]]] = [
        partial(_k3s_plan, client, endpoints, t, a) for t in tags for a in arches
    ]
    tasks += [
        partial(_kubectl_plan, client, kubectl_file(endpoints, v, o, a))
        for v in kubectls
        for o in oses
        for a in arches
    ]
    groups = run_parallel(tasks, workers=6, cancel=http.cancel_of(client))
    return [item for group in groups for item in group]


def _kubectl_plan(client: httpx.Client, item: PlannedFile) -> list[PlannedFile]:
    return [_sized(client, item)]


def _entry(folder: Path, result: DownloadResult) -> ManifestFile:
    relative = result.job.destination.relative_to(folder).as_posix()
    return ManifestFile(relative, result.size, result.sha256, result.job.url)


def fill_bundle(
    client: httpx.Client,
    endpoints: Endpoints,
    folder: Path,
    files: list[PlannedFile],
    *,
    progress: ProgressFactory = lambda label: None,
    workers: int = 3,
    connections: int | None = None,
) -> list[ManifestFile]:
    """Download every planned file into `folder`, verified, in manifest form."""
    releases = dict.fromkeys((f.tag, f.arch) for f in files if f.kind.startswith("k3s"))
    kubectls = [f for f in files if f.kind == "kubectl"]

    first_arch = {tag: arch for tag, arch in reversed(list(releases))}

    def release(tag: str, arch: str) -> list[DownloadResult]:
        parsed = parse_k3s_tag(tag)
        assert parsed is not None  # the plan made it from a K3sTag
        where = inside(folder, Path(k3s_bundle_path(tag, "x")).parent.parts)  # no links
        return fetch_release(
            client,
            endpoints,
            where,
            parsed,
            arch,
            progress_for=progress,
            connections=connections,
            script=first_arch[tag] == arch,  # install.sh is one per tag
        )

    def kubectl(item: PlannedFile) -> list[DownloadResult]:
        assert item.version and item.target_os and item.arch
        where = inside(folder, Path(item.path).parent.parts)  # no links on the way
        found = download_kubectl(
            client,
            endpoints,
            item.version,
            item.target_os,
            item.arch,
            where,
            progress=progress(item.path),
            connections=connections,
        )
        return [found]

    tasks: list[Callable[[], list[DownloadResult]]] = [
        partial(release, str(t), str(a)) for t, a in releases
    ]
    tasks += [partial(kubectl, f) for f in kubectls]
    groups = run_parallel(tasks, workers=workers, cancel=http.cancel_of(client))
    return [_entry(folder, result) for group in groups for result in group]


def write_bundle_catalog(folder: Path, catalog: Catalog, tags: list[K3sTag]) -> ManifestFile:
    """The catalog with every bundled tag listed (channels kept), written into the bundle."""
    covering = build_catalog(catalog.channels, catalog.versions, prefer=tags)
    path = folder / CATALOG_FILE_NAME
    write_text_atomically(path, catalog_to_json(covering))
    return ManifestFile(CATALOG_FILE_NAME, path.stat().st_size, sha256_file(path), "")


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """The manifest, last, atomically."""
    path = folder / MANIFEST_NAME
    write_text_atomically(path, manifest.to_json())
    return path


def endpoints_note(endpoints: Endpoints) -> dict[str, str]:
    """The sources a bundle was made from, for its manifest."""
    return {"k3s": endpoints.k3s_download_url, "kubectl": endpoints.kubectl_mirror_url}
