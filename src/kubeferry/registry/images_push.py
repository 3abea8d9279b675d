"""`images push`: the images of k3s airgap archives into the organisation's registry.

Each image keeps its repository path under the target (`docker.io/rancher/mirrored-pause:3.6`
-> `REGISTRY/rancher/mirrored-pause:3.6`). Layer digests stay those of the archive: docker-save
layers are pushed as the uncompressed tars they are (`application/vnd.oci.image.layer.v1.tar`),
OCI-layout manifests byte for byte. Blobs the registry has are skipped (HEAD); a blob several
repositories need is uploaded once and mounted into the others. Large blobs of a `.tar` are
read in parallel from their offsets; those of a `.tar.zst` stream out of one decompression pass.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from kubeferry.core.image_names import Reference, normalize_image_name, target_reference
from kubeferry.errors import ImageArchiveError
from kubeferry.jobs.parallel import run_parallel
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.oci.client import PIECE, BlobSource, RegistryClient
from kubeferry.oci.media import sha256_digest
from kubeferry.registry.archive import (
    ArchiveImage,
    ArchiveScan,
    Blob,
    read_images,
    scan_archive,
    stream_members,
)
from kubeferry.registry.blobs import BlobOutcome, summarize


@dataclass(frozen=True)
class PushedImage:
    """One image name and where it went."""

    source: str
    target: str
    digest: str

    def as_dict(self) -> dict[str, str]:
        """For --json."""
        return {"source": self.source, "target": self.target, "digest": self.digest}


@dataclass(frozen=True)
class ImagesPush:
    """What pushing one archive did."""

    archive: Path
    images: tuple[PushedImage, ...]
    blobs: tuple[BlobOutcome, ...]
    unnamed: int

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "archive": str(self.archive),
            "images": [i.as_dict() for i in self.images],
            "unnamed_images_skipped": self.unnamed,
            **summarize(self.blobs),
        }


def _targets(image: ArchiveImage, registry: str, prefix: str) -> list[tuple[str, Reference]]:
    return [
        (name, target_reference(normalize_image_name(name), registry, prefix))
        for name in image.names
    ]


def _source_for(scan: ArchiveScan, blob: Blob) -> BlobSource:
    if blob.data is not None:
        return BlobSource(blob.digest, blob.size, chunks=[blob.data])
    member = scan.members[blob.member or ""]
    return BlobSource(blob.digest, blob.size, path=scan.path, offset=member.offset)


@dataclass
class _Plan:
    """Which repositories need which blobs, and the first home of each missing blob."""

    needs: dict[str, dict[str, Blob]]  # repository -> digest -> blob
    missing: dict[tuple[str, str], bool]  # (repository, digest) -> missing?

    def homes(self) -> dict[str, tuple[str, Blob]]:
        """digest -> (repository to upload into, blob) for blobs no repository has yet."""
        present = {d for (_, d), gone in self.missing.items() if not gone}
        chosen: dict[str, tuple[str, Blob]] = {}
        for repository, blobs in self.needs.items():
            for digest, blob in blobs.items():
                if self.missing[(repository, digest)] and digest not in present:
                    chosen.setdefault(digest, (repository, blob))
        return chosen


def _plan(client: RegistryClient, needs: dict[str, dict[str, Blob]], workers: int) -> _Plan:
    pairs = [(r, d) for r, blobs in needs.items() for d in blobs]
    found = run_parallel(
        [partial(client.blob_exists, r, d) for r, d in pairs],
        workers=workers * 2,
        cancel=client.cancel,
    )
    return _Plan(needs, {pair: not there for pair, there in zip(pairs, found, strict=True)})


def prefetched(pieces: Iterator[bytes], depth: int = 8) -> Iterator[bytes]:
    """`pieces` read ahead by a thread (at most `depth` waiting), so decompression overlaps
    the upload; zstandard and socket writes release the GIL on pieces this large."""
    waiting: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for piece in pieces:
                while not stop.is_set():
                    try:
                        waiting.put(piece, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            waiting.put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            with contextlib.suppress(queue.Full):
                waiting.put(exc, timeout=1)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while (item := waiting.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _upload_homes(
    client: RegistryClient,
    scan: ArchiveScan,
    homes: dict[str, tuple[str, Blob]],
    progress: ProgressFactory,
    workers: int,
) -> list[BlobOutcome]:
    def upload(repository: str, source: BlobSource, label: str) -> BlobOutcome:
        client.upload_blob(repository, source, progress=progress(label))
        return BlobOutcome(source.digest, source.size, "uploaded", label)

    label = {d: f"{r}@{d[7:19]}" for d, (r, _) in homes.items()}
    seekable = [
        (d, r, b) for d, (r, b) in homes.items() if b.data is not None or not scan.compressed
    ]
    outcomes = run_parallel(
        [partial(upload, r, _source_for(scan, b), label[d]) for d, r, b in seekable],
        workers=workers,
        cancel=client.cancel,
    )
    streamed = {b.member: (d, r, b) for d, (r, b) in homes.items() if (d, r, b) not in seekable}
    if streamed:
        for member, stream in stream_members(scan, set(streamed)):  # type: ignore[arg-type]
            digest, repository, blob = streamed[member.name]
            chunks = prefetched(iter(partial(stream.read, PIECE), b""))
            source = BlobSource(digest, blob.size, chunks=chunks)
            outcomes.append(upload(repository, source, label[digest]))
    return outcomes


def _mount_rest(
    client: RegistryClient, plan: _Plan, homes: dict[str, tuple[str, Blob]], workers: int
) -> list[BlobOutcome]:
    """Mount into every other repository that lacks a blob, from one that has it."""
    holders: dict[str, str] = {d: r for d, (r, _) in homes.items()}
    for (repository, digest), gone in plan.missing.items():
        if not gone:
            holders.setdefault(digest, repository)
    jobs = [
        (repository, digest, plan.needs[repository][digest].size)
        for (repository, digest), gone in plan.missing.items()
        if gone and holders.get(digest) not in (None, repository)
    ]

    def mount(repository: str, digest: str, size: int) -> BlobOutcome:
        if not client.mount_blob(repository, digest, holders[digest]):
            raise ImageArchiveError(
                f"the registry {client.url} declined to mount {digest} from {holders[digest]} "
                f"into {repository}. Run the push again; if it persists, check the registry's "
                "storage.",
                url=client.url,
            )
        return BlobOutcome(digest, size, "mounted", repository)

    return run_parallel([partial(mount, *j) for j in jobs], workers=workers, cancel=client.cancel)


def push_archive(
    client: RegistryClient,
    archive: Path,
    *,
    prefix: str = "",
    progress: ProgressFactory = lambda label: None,
    workers: int = 4,
) -> ImagesPush:
    """Push every named image of one archive into `client`'s registry; manifests last."""
    scan = scan_archive(archive)
    images = read_images(scan)
    targets = {id(image): _targets(image, client.registry, prefix) for image in images}
    needs: dict[str, dict[str, Blob]] = {}
    for image in images:
        for _, ref in targets[id(image)]:
            needs.setdefault(ref.repository, {}).update({b.digest: b for b in image.blobs})
    plan = _plan(client, needs, workers)
    homes = plan.homes()
    outcomes = _upload_homes(client, scan, homes, progress, workers)
    outcomes += _mount_rest(client, plan, homes, workers)
    outcomes += [
        BlobOutcome(d, needs[r][d].size, "present", r)
        for (r, d), gone in plan.missing.items()
        if not gone
    ]
    pushed: list[PushedImage] = []
    for image in images:
        for name, ref in targets[id(image)]:
            digest = _put_manifests(client, ref, image)
            pushed.append(PushedImage(name, str(ref), digest))
    unnamed = sum(1 for image in images if not image.names)
    return ImagesPush(archive, tuple(pushed), tuple(outcomes), unnamed)


def _put_manifests(client: RegistryClient, ref: Reference, image: ArchiveImage) -> str:
    *children, (kind, body) = image.manifests
    for child_kind, child in children:
        client.put_manifest(ref.repository, sha256_digest(child), child, child_kind)
    return client.put_manifest(ref.repository, ref.reference, body, kind) or sha256_digest(body)


def push_archives(
    client: RegistryClient,
    archives: Sequence[Path],
    *,
    prefix: str = "",
    progress: ProgressFactory = lambda label: None,
    workers: int = 4,
) -> list[ImagesPush]:
    """`push_archive` for each archive in turn."""
    reports = []
    for archive in archives:
        reports.append(
            push_archive(client, archive, prefix=prefix, progress=progress, workers=workers)
        )
    return reports
