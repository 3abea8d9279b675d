"""k3s airgap images for the mirror's registry API: unpacked once into a blob cache (disk).

A `.tar.zst` cannot be read at an offset, so the mirror unpacks each bundled airgap archive once
into a content-addressed cache (`<cache>/sha256/<hex>`, the default beside the user's cache,
`--blob-cache` elsewhere): the archive is copied once into a private file, checked against its
bundle manifest while copied (the bundle's file is never reopened by its path); every blob
is hashed while it is written and gets its name only when it matches its digest, and a blob
already in the cache is kept. The server hashes cached blobs again before it serves them (as it
does bundle files), so a cache file changed later is refused, never sent.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO, Final, Protocol

from kubeferry.core.image_names import normalize_image_name
from kubeferry.core.oci_media import sha256_digest
from kubeferry.errors import ChecksumError, KubeferryError
from kubeferry.mirror.image_store import Content, ImageStore
from kubeferry.mirror.routes import Bundle, BundleEntry, FileRoute
from kubeferry.registry.archive import (
    ArchiveImage,
    ArchiveScan,
    read_images,
    scan_archive,
    stream_members,
)
from kubeferry.verification.bundle import copy_verified, measure

READ_SIZE: Final = 1024 * 1024


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def _cache_route(cache: Path, digest: str, size: int) -> FileRoute:
    return FileRoute(cache, f"sha256/{digest[7:]}", size, digest[7:])


def _present(cache: Path, digest: str, size: int) -> bool:
    """True when the cache holds this blob with the right bytes; a damaged one is removed (and
    unpacked again), so it is never kept to be refused at every start."""
    try:
        found = measure(cache, f"sha256/{digest[7:]}")
    except FileNotFoundError:
        return False
    except KubeferryError:  # a link or other non-file there: leave it, the server refuses it
        return True
    if found.size == size and found.digests["sha256"] == digest[7:]:
        return True
    (cache / "sha256" / digest[7:]).unlink(missing_ok=True)
    return False


def _write_blob(cache: Path, digest: str, size: int, stream: _Readable) -> None:
    """Copy `stream` into the cache under its digest, only when the bytes match it."""
    folder = cache / "sha256"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{digest[7:]}.{os.urandom(4).hex()}.tmp"
    hasher, written = hashlib.sha256(), 0
    try:
        with temporary.open("xb") as out:
            while piece := stream.read(READ_SIZE):
                hasher.update(piece)
                out.write(piece)
                written += len(piece)
        if written != size or hasher.hexdigest() != digest[7:]:
            raise ChecksumError(
                f"a blob of the airgap archive should be {digest} ({size} bytes) but is sha256:"
                f"{hasher.hexdigest()} ({written} bytes); it was not cached or served.",
                expected=digest,
                actual=hasher.hexdigest(),
            )
        temporary.replace(folder / digest[7:])
    finally:
        temporary.unlink(missing_ok=True)


def _unpack(scan: ArchiveScan, images: list[ArchiveImage], cache: Path) -> None:
    import io

    wanted: dict[str, tuple[str, int]] = {}
    for image in images:
        for blob in image.blobs:
            if _present(cache, blob.digest, blob.size):
                continue
            if blob.data is not None:
                _write_blob(cache, blob.digest, blob.size, io.BytesIO(blob.data))
            elif blob.member:
                wanted[blob.member] = (blob.digest, blob.size)
    if not wanted:
        return
    if scan.compressed:
        for member, stream in stream_members(scan, set(wanted)):
            _write_blob(cache, *wanted[member.name], stream)
        return
    with scan.path.open("rb") as raw:
        for name, (digest, size) in wanted.items():
            raw.seek(scan.members[name].offset)
            _write_blob(cache, digest, size, _Limited(raw, size))


class _Limited:
    """A window of `size` bytes of a file, read sequentially."""

    def __init__(self, raw: IO[bytes], size: int) -> None:
        self._raw, self._left = raw, size

    def read(self, wanted: int) -> bytes:
        piece = self._raw.read(min(wanted, self._left))
        self._left -= len(piece)
        return piece


def _private_archive(entry: BundleEntry, cache: Path) -> Path:
    """A copy of the archive that only this user can write, checked against the manifest while
    it is copied: the archive is read once from the bundle, never reopened by its path there."""
    folder = cache / "archives"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    copy = folder / f".{os.urandom(8).hex()}-{Path(entry.path).name}"
    descriptor = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as writer:
            copy_verified(
                entry.bundle,
                entry.path,
                entry.size,
                entry.sha256,
                writer,
                consequence="It is not served.",
            )
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    return copy


def _add_archive(store: ImageStore, entry: BundleEntry, cache: Path) -> None:
    copy = _private_archive(entry, cache)
    try:
        scan = scan_archive(copy)
        images = read_images(scan)
        _unpack(scan, images, cache)
    finally:
        copy.unlink(missing_ok=True)
    for image in images:
        for name in image.names:
            try:
                reference = normalize_image_name(name)
            except KubeferryError:
                store.notes.append(
                    f"{entry.bundle / entry.path}: {name!r} is no image name; skipped"
                )
                continue
            repository = store.repository(reference.registry, reference.repository)
            for kind, body in image.manifests:
                content = Content(sha256_digest(body), len(body), kind, body=body)
                store.manifests.setdefault(content.digest, content)
                repository.digests.add(content.digest)
            store.add_name(reference, store.manifests[sha256_digest(image.manifests[-1][1])])
            for blob in image.blobs:
                route = _cache_route(cache, blob.digest, blob.size)
                store.blobs.setdefault(
                    blob.digest, Content(blob.digest, blob.size, blob.media_type, route=route)
                )
                repository.digests.add(blob.digest)


def add_airgap_images(store: ImageStore, bundle: Bundle, cache: Path) -> None:
    """Every airgap images archive of the bundle, its blobs in `cache`."""
    for entry in bundle.entries:
        if entry.kind == "k3s" and "airgap-images" in entry.asset:
            try:
                _add_archive(store, entry, cache)
            except (KubeferryError, OSError) as exc:  # the archive itself is still a file route
                store.notes.append(
                    f"the airgap images of {entry.bundle / entry.path} are not served under /v2/: "
                    f"{exc}"
                )
