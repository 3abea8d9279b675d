"""Sums files (`<hex>  <name>`) and streaming sha256/sha512 of files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from kubeferry.errors import UnsafePathError
from kubeferry.files.safe import open_regular

CHUNK_SIZE: Final = 1024 * 1024


class Readable(Protocol):
    """A binary file read into a buffer (`readinto`): a raw or a buffered file."""

    def readinto(self, buffer: bytearray, /) -> int | None: ...


def new_hashers(algorithms: Iterable[str]) -> dict[str, hashlib._Hash]:
    """Fresh hash objects by algorithm name."""
    return {name: hashlib.new(name) for name in algorithms}


def hash_file(path: Path, algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file, read once in 1 MiB chunks (memory stays flat)."""
    hashers = new_hashers(algorithms)
    if len(hashers) == 1:
        (name,) = hashers
        with os.fdopen(open_regular(path, error=UnsafePathError), "rb") as stream:
            return {name: hashlib.file_digest(stream, name).hexdigest()}
    feed_file(hashers, path)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def feed_file(hashers: dict[str, hashlib._Hash], path: Path, length: int | None = None) -> None:
    """Update `hashers` with the first `length` bytes of a file (all of it by default).

    The file is opened without following links and must be a regular file.
    """
    with os.fdopen(open_regular(path, error=UnsafePathError), "rb") as stream:
        copy_hashing(stream, None, hashers.values(), length)


def copy_hashing(
    source: Readable,
    target: BinaryIO | None,
    hashers: Iterable[hashlib._Hash],
    length: int | None = None,
) -> int:
    """Read `source` (its first `length` bytes, or to the end) in 1 MiB chunks into `hashers`,
    writing the same bytes to `target` if given: what is hashed is exactly what is copied.
    Memory stays flat. Returns the number of bytes read."""
    targets = list(hashers)
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    done = 0
    while (length is None or done < length) and (count := source.readinto(buffer)):
        if length is not None:
            count = min(count, length - done)
        chunk = view[:count]
        if target is not None:
            target.write(chunk)
        for hasher in targets:
            hasher.update(chunk)
        done += count
    return done


def sha256_file(path: Path) -> str:
    """The sha256 of a file, hex."""
    return hash_file(path)["sha256"]
