"""A bundle's workload images on a node: one OCI archive k3s imports from `agent/images/`.

The bundle holds its workload images as an OCI image layout under `images/` (`oci-layout`,
`index.json` naming each image in `io.containerd.image.name`, `blobs/sha256/<hex>`). Packed
into a tar, that layout is an OCI archive, which containerd imports as k3s does with every
archive in `agent/images/` at start. The tar is built deterministically (sorted members, no
times, owners or modes that vary), each member copied from the bundle and hashed while copied
against the manifest (nothing unverified is packed), into a hidden name, then renamed into
place; when the archive already there has the same bytes it is left alone.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Final

from kubeferry.core.layouts import IMAGES_FOLDER, PLACE_SUFFIX
from kubeferry.files.hashing import sha256_file
from kubeferry.files.safe import open_for_writing, remove_plain
from kubeferry.targets.placement import BundleFile
from kubeferry.verification.bundle import copy_verified

WORKLOAD_ARCHIVE: Final = "kubeferry-workload-images.tar"
_BLOCK: Final = tarfile.BLOCKSIZE


class _Hashing:
    """A writer that hashes what passes through it (the archive's sha256 while it is written)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.stream.write(data)


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _pack(files: Sequence[BundleFile], writer: _Hashing) -> None:
    for item in sorted(files, key=lambda f: f.path):
        writer.write(_header(item.path.removeprefix(f"{IMAGES_FOLDER}/"), item.size))
        copy_verified(
            item.folder,
            item.path,
            item.size,
            item.sha256,
            writer,  # type: ignore[arg-type]
            consequence="The workload images archive was not placed.",
        )
        writer.write(b"\0" * (-item.size % _BLOCK))
    writer.write(b"\0" * (2 * _BLOCK))
    writer.write(b"\0" * (-writer.size % tarfile.RECORDSIZE))


def place_workload_archive(files: Sequence[BundleFile], destination: Path) -> tuple[bool, str]:
    """The bundle's `images/` files packed into `destination`; (already there, sha256)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}{PLACE_SUFFIX}")
    remove_plain(temporary)
    try:
        with open_for_writing(temporary, append=False) as stream:
            writer = _Hashing(stream)
            _pack(files, writer)
            stream.flush()
            os.fsync(stream.fileno())
        digest = writer.hasher.hexdigest()
        same = (
            destination.is_file()
            and not destination.is_symlink()
            and destination.stat().st_size == writer.size
            and sha256_file(destination) == digest
        )
        if same:
            temporary.unlink()
        else:
            temporary.replace(destination)
        return same, digest
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
