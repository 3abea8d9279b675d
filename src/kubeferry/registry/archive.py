"""Read a k3s airgap images archive without unpacking it: the images, their blobs, where they are.

Both layouts are read: `docker save` (`manifest.json` with `Config`, `RepoTags`, `Layers`; each
layer an uncompressed tar whose sha256 is the config's `rootfs.diff_ids` entry) and the OCI image
layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`). A `.tar` is read with seeks, so large
members are only located (offset, size); a `.tar.zst` is a sequential stream, so the first pass
keeps only the small JSON members in memory and `stream_members` later decompresses it once more
to hand out the large members in archive order. Memory stays bounded either way.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from kubeferry.errors import ImageArchiveError
from kubeferry.oci.media import (
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    descriptor,
    manifest_json,
    sha256_digest,
)

SMALL: Final = 4 * 1024 * 1024  # configs, manifests and indexes are far smaller
SMALL_TOTAL: Final = 256 * 1024 * 1024
REF_NAME: Final = "org.opencontainers.image.ref.name"
CONTAINERD_NAME: Final = "io.containerd.image.name"


@dataclass(frozen=True)
class Member:
    """One regular file in the archive: its name, size, data offset (uncompressed)."""

    name: str
    size: int
    offset: int


@dataclass
class ArchiveScan:
    """Pass one: every member located, the small JSON ones read."""

    path: Path
    compressed: bool
    members: dict[str, Member] = field(default_factory=dict)
    small: dict[str, bytes] = field(default_factory=dict)

    def json(self, name: str) -> Any:
        """The parsed JSON member `name`; ImageArchiveError when absent or not JSON."""
        data = self.small.get(name.lstrip("./"))
        if data is None:
            raise self.error(f"lacks {name} (or it is too large for a JSON document)")
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise self.error(f"has a {name} that is not JSON ({exc})") from exc

    def error(self, what: str) -> ImageArchiveError:
        """An error naming this archive and what to do."""
        return ImageArchiveError(
            f"{self.path} {what}. It is not a readable images archive (docker save or OCI "
            "layout, .tar or .tar.zst): download it again, or check the file.",
            path=self.path,
        )


def _read_errors(path: Path) -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, OSError, ValueError)
    if path.name.endswith(".zst"):
        import zstandard

        errors += (zstandard.ZstdError,)
    return errors


@contextmanager
def open_tar_stream(path: Path, *, seekable: bool = False) -> Iterator[tarfile.TarFile]:
    """The archive as a tar stream (`.tar.zst` decompressed on the fly).

    `seekable` opens a plain `.tar` for random access, so skipping a member is a seek. Read
    errors (a damaged tar or zstd frame) become ImageArchiveError naming the file.
    """
    try:
        if seekable and not path.name.endswith(".zst"):
            with tarfile.open(path, mode="r:") as archive:
                yield archive
            return
        with path.open("rb") as raw:
            if path.name.endswith(".zst"):
                import zstandard  # only for a .tar.zst: it costs every command ~14 ms

                reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(
                    raw, read_size=1 << 20
                )
                with reader, tarfile.open(fileobj=reader, mode="r|") as archive:
                    yield archive
            else:
                with tarfile.open(fileobj=raw, mode="r|") as archive:
                    yield archive
    except FileNotFoundError as exc:
        raise ImageArchiveError(
            f"{path} does not exist. Give an images archive, a bundle folder or a cached k3s "
            "version.",
            path=path,
        ) from exc
    except _read_errors(path) as exc:
        raise ImageArchiveError(
            f"{path} cannot be read as an images archive ({type(exc).__name__}: {exc}). It is "
            "damaged or not a tar / tar.zst: download it again, or check the file.",
            path=path,
        ) from exc


def _normal(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def scan_archive(path: Path) -> ArchiveScan:
    """Pass one over the archive: locate every member, keep small JSON members in memory."""
    compressed = path.name.endswith(".zst")
    scan = ArchiveScan(path, compressed)
    kept = 0
    with open_tar_stream(path, seekable=True) as archive:
        for info in archive:
            if not info.isreg():
                continue
            name = _normal(info.name)
            scan.members[name] = Member(name, info.size, info.offset_data)
            if info.size > SMALL:
                continue
            stream = archive.extractfile(info)
            data = stream.read() if stream else b""
            if data[:1] in (b"{", b"["):
                kept += len(data)
                if kept > SMALL_TOTAL:
                    raise scan.error("holds more small JSON members than an images archive")
                scan.small[name] = data
    if not scan.members:
        raise scan.error("holds no files")
    return scan


@dataclass(frozen=True)
class Blob:
    """A blob the registry needs: where its bytes are (archive member or memory)."""

    digest: str
    size: int
    media_type: str
    member: str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class ArchiveImage:
    """One image: its names, manifests to put (children first) and its blobs."""

    names: tuple[str, ...]
    manifests: tuple[tuple[str, bytes], ...]  # (media type, body), the tagged one last
    blobs: tuple[Blob, ...]


def _blob_member(scan: ArchiveScan, digest: str) -> str:
    return f"blobs/{digest.replace(':', '/', 1)}"


def _docker_image(scan: ArchiveScan, entry: Any) -> ArchiveImage:
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
        raise scan.error("has a manifest.json entry without a Config")
    config_name = _normal(entry["Config"])
    config_bytes = scan.small.get(config_name)
    if config_bytes is None:
        raise scan.error(f"lacks the image config {config_name}")
    config = scan.json(config_name)
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    layers = [_normal(name) for name in entry.get("Layers") or []]
    if len(diff_ids) != len(layers):
        raise scan.error(f"lists {len(layers)} layers but its config {len(diff_ids)} diff_ids")
    config_blob = Blob(
        sha256_digest(config_bytes), len(config_bytes), OCI_CONFIG, data=config_bytes
    )
    blobs = [config_blob]
    for name, digest in zip(layers, diff_ids, strict=True):
        member = scan.members.get(name)
        if member is None:
            raise scan.error(f"lacks the layer {name}")
        blobs.append(Blob(digest, member.size, OCI_LAYER_TAR, member=name))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config_blob.digest, config_blob.size),
        "layers": [descriptor(b.media_type, b.digest, b.size) for b in blobs[1:]],
    }
    names = tuple(entry.get("RepoTags") or ())
    return ArchiveImage(names, ((OCI_MANIFEST, manifest_json(manifest)),), tuple(blobs))


def _oci_blob(scan: ArchiveScan, descriptor: dict[str, Any]) -> Blob:
    digest, size = descriptor.get("digest", ""), descriptor.get("size")
    name = _blob_member(scan, digest)
    member = scan.members.get(name)
    if member is None or member.size != size:
        raise scan.error(f"lacks the blob {digest} ({size} bytes) its manifests list")
    kind = str(descriptor.get("mediaType", ""))
    return Blob(digest, member.size, kind, member=name, data=scan.small.get(name))


def _oci_manifest(
    scan: ArchiveScan, descriptor: dict[str, Any]
) -> tuple[list[tuple[str, bytes]], list[Blob]]:
    """(manifests children-first, blobs) for an image manifest or an index in the layout."""
    holder = _oci_blob(scan, descriptor)
    if holder.data is None or sha256_digest(holder.data) != holder.digest:
        raise scan.error(f"has a manifest {holder.digest} whose bytes do not match its digest")
    document = scan.json(holder.member or "")
    kind = str(descriptor.get("mediaType") or document.get("mediaType") or "")
    if kind in INDEX_TYPES:
        manifests: list[tuple[str, bytes]] = []
        blobs: list[Blob] = []
        for child in document.get("manifests") or []:
            child_manifests, child_blobs = _oci_manifest(scan, child)
            manifests += child_manifests
            blobs += child_blobs
        return [*manifests, (kind, holder.data)], blobs
    parts = [document.get("config") or {}, *(document.get("layers") or [])]
    return [(kind, holder.data)], [_oci_blob(scan, part) for part in parts]


def _oci_images(scan: ArchiveScan) -> list[ArchiveImage]:
    index = scan.json("index.json")
    images = []
    for entry in index.get("manifests") or [] if isinstance(index, dict) else []:
        annotations = entry.get("annotations") or {}
        name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME) or ""
        if "/" not in name and ":" not in name:
            name = ""  # a bare tag such as "3.6" names no repository: the image is skipped
        manifests, blobs = _oci_manifest(scan, entry)
        images.append(ArchiveImage((name,) if name else (), tuple(manifests), tuple(blobs)))
    return images


def read_images(scan: ArchiveScan) -> list[ArchiveImage]:
    """The images of a scanned archive (OCI layout when it has one, else docker save)."""
    if "oci-layout" in scan.members and "index.json" in scan.small:
        images = _oci_images(scan)
    elif "manifest.json" in scan.small:
        entries = scan.json("manifest.json")
        if not isinstance(entries, list):
            raise scan.error("has a manifest.json that is not a list")
        images = [_docker_image(scan, entry) for entry in entries]
    else:
        raise scan.error("has neither manifest.json (docker save) nor oci-layout + index.json")
    if not images:
        raise scan.error("lists no images")
    return images


def stream_members(scan: ArchiveScan, wanted: set[str]) -> Iterator[tuple[Member, IO[bytes]]]:
    """The wanted members in archive order, each readable once (a second decompression pass)."""
    with open_tar_stream(scan.path) as archive:
        for info in archive:
            name = _normal(info.name)
            if info.isreg() and name in wanted:
                stream = archive.extractfile(info)
                if stream is not None:
                    yield scan.members[name], stream
