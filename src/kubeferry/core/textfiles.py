"""Small text files: read without following links, parse with errors that name the file, and
write atomically (0644 under the umask, as Rancher Desktop writes its catalog)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from kubeferry.errors import KubeferryError, StorageError, TextFileError, UnsafePathError

MAX_TEXT_BYTES = 64 * 1024 * 1024
"""A catalog or manifest is kilobytes; anything this large is not one."""


def open_plain(
    path: Path, flags: int = os.O_RDONLY, *, error: type[KubeferryError] = UnsafePathError
) -> int:
    """A descriptor of `path` opened with `flags`, never through a link, only a regular file.

    The one way kubeferry opens a file inside a target: O_NOFOLLOW refuses a planted link (its
    target is left untouched), O_NONBLOCK keeps a FIFO from blocking the open, and the fstat
    refuses FIFOs, devices and folders.
    """
    extra = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags | extra, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise error(
                f"{path} is a symbolic link; kubeferry reads and writes only plain files there "
                "and left it (and what it points to) untouched. Replace it with the file itself.",
                path=path,
            ) from exc
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise error(
            f"{path} is not a regular file (a FIFO, device or folder); kubeferry reads and writes "
            "only plain files. Replace it with the file itself.",
            path=path,
        )
    if flags & (os.O_WRONLY | os.O_RDWR) and hasattr(os, "set_blocking"):
        os.set_blocking(descriptor, True)  # a regular file: blocking writes, as usual
    return descriptor


def open_regular(path: Path, *, error: type[KubeferryError] = TextFileError) -> int:
    """A read-only descriptor of `path`, refusing links, FIFOs, devices and folders."""
    return open_plain(path, os.O_RDONLY, error=error)


def read_bytes(path: Path, *, missing: str, error: type[KubeferryError] = TextFileError) -> bytes:
    """The file's bytes (no links, no FIFOs, at most MAX_TEXT_BYTES)."""
    try:
        descriptor = open_regular(path, error=error)
    except FileNotFoundError as exc:
        raise error(f"{path} does not exist. {missing}", path=path) from exc
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    with os.fdopen(descriptor, "rb") as stream:
        data = stream.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise error(f"{path} is larger than {MAX_TEXT_BYTES} bytes; it is not one.", path=path)
    return data


def decode_text(data: bytes, *, source: str, error: type[KubeferryError] = TextFileError) -> str:
    """UTF-8 text; an error naming `source` otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{source} is not UTF-8 text (byte {exc.start}); it is damaged or not the file "
            "kubeferry expects. Fetch or copy it again.",
            path=source,
        ) from exc


def read_text(path: Path, *, missing: str, error: type[KubeferryError] = TextFileError) -> str:
    """The file's text; `error` names the file (and, when it is absent, what to do)."""
    return decode_text(
        read_bytes(path, missing=missing, error=error), source=str(path), error=error
    )


def parse_json(
    text: str | bytes, *, source: str, fix: str, error: type[KubeferryError] = TextFileError
) -> Any:
    """JSON from `text`; `error` names `source`, where it broke, and `fix`.

    Nesting too deep for the parser and integers too long to convert are reported the same way.
    """
    import json  # here: `kubectl list` reaches this module and reads no JSON

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}). {fix}", path=source
        ) from exc
    except RecursionError as exc:
        raise error(f"{source} is not valid: nested too deeply. {fix}", path=source) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"{source} is not valid: {exc}. {fix}", path=source) from exc


def write_text_atomically(
    path: Path, text: str, *, mode: int = 0o644, durable: bool = True
) -> None:
    """Write `text` to `path` through a temporary file beside it and a rename (0644 by default;
    0600 for files that hold credentials). `durable=False` skips the fsync, for bookkeeping
    that may be lost in a power cut (it is never trusted without a check).

    A failure (no space, no permission, a missing folder) names `path`, not the temporary file.
    """
    temporary = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, flags | getattr(os, "O_BINARY", 0), mode)
    except OSError as exc:
        raise StorageError(
            f"cannot write {path}: {exc.strerror or exc}. Check that its folder exists and is "
            "writable, then run the command again.",
            path=path,
        ) from exc
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        temporary.replace(path)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(
                f"cannot write {path}: {exc.strerror or exc}; it was left as it was. Free some "
                "space or fix the permissions, then run the command again.",
                path=path,
            ) from exc
        raise
