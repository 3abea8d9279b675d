"""The partial files of a download: `.<name>.part` and `.<name>.part.json` beside the destination.

Each is read and written only as a plain file: a link, folder or FIFO planted at one of these
names is refused and left (with whatever it points to) untouched.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kubeferry.errors import StorageError, UnsafePathError
from kubeferry.files.safe import plain_or_absent, remove_plain, write_text_atomically
from kubeferry.files.textfiles import read_bytes

if TYPE_CHECKING:  # `cache list` reads these names; the network stack loads only to fetch
    import httpx

PART_SUFFIX: Final = ".part"
META_SUFFIX: Final = ".part.json"
_WRITTEN = threading.Event()


def note_partial() -> None:
    """A `.part` file is being written by this process (Ctrl-C then says it was kept)."""
    _WRITTEN.set()


def partials_written() -> bool:
    """True once this process wrote into a `.part` file."""
    return _WRITTEN.is_set()


def part_path(destination: Path) -> Path:
    """`.<name>.part` beside the destination.

    The leading dot matters: kuberlr takes any `kubectl1.30.6*` in its folder for kubectl
    1.30.6, so `kubectl1.30.6.part` would be run half-downloaded.
    """
    return destination.with_name(f".{destination.name}{PART_SUFFIX}")


def meta_path(destination: Path) -> Path:
    """`.<name>.part.json`: the validator (ETag) the partial file was fetched under."""
    return destination.with_name(f".{destination.name}{META_SUFFIX}")


def read_validator(destination: Path, url: str) -> str | None:
    """The validator a partial file was fetched under, for `url`; None when unknown."""
    path = meta_path(destination)
    if not plain_or_absent(path):
        return None
    data = read_bytes(path, missing="", error=UnsafePathError)  # no links, no FIFOs
    try:
        meta = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(meta, dict):
        return None
    found = meta.get("validator")
    return found if meta.get("url") == url and isinstance(found, str) else None


def validator_of(response: httpx.Response) -> str | None:
    """A strong ETag, else Last-Modified, for `If-Range` (a weak `W/` one cannot be used)."""
    value = response.headers.get("ETag") or response.headers.get("Last-Modified")
    return value if value and not value.startswith("W/") else None


def write_validator(destination: Path, url: str, response: httpx.Response) -> None:
    """Remember the ETag (or Last-Modified) the partial file is fetched under."""
    note_partial()
    validator = validator_of(response)
    path = meta_path(destination)
    if validator:
        plain_or_absent(path)
        # A new file and a rename: nothing at this name is ever written through.
        write_text_atomically(path, json.dumps({"url": url, "validator": validator}))
    else:
        remove_plain(path)


def part_size(part: Path) -> int:
    """Bytes already in the `.part` file (0 when absent); a link or FIFO there is refused."""
    return os.lstat(part).st_size if plain_or_absent(part) else 0


def discard_partial(destination: Path) -> None:
    """Delete the `.part` file and its validator (only plain files; links are refused)."""
    remove_plain(part_path(destination))
    remove_plain(meta_path(destination))


def storage_error(exc: OSError, destination: Path, part: Path) -> StorageError:
    """The error for a `.part` that could not be written, naming the download it belongs to."""
    full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    advice = "Free some space" if full else "Check that the folder is writable"
    kept = " The partial file was kept." if part_size(part) else ""
    return StorageError(
        f"could not write {part} (the download of {destination}): "
        f"{exc.strerror or exc}.{kept} {advice}, then run the same command again to resume.",
        path=destination,
    )
