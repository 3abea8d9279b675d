"""Files inside a target: the one module that opens, writes and stages them.

- Never through a link: O_NOFOLLOW on the last step of a path, and `open_inside` walks every
  folder from the root's descriptor with O_NOFOLLOW | O_DIRECTORY, so nothing can be swapped
  for a link between a check and a use.
- Regular files only: O_NONBLOCK keeps a FIFO from blocking the open, the fstat refuses FIFOs,
  devices and folders.
- Atomic: a hidden temporary beside the destination, fsync, rename; a version folder is
  assembled in a staging folder and renamed into place whole.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import Final

from kubeferry.errors import KubeferryError, StorageError, TextFileError, UnsafePathError

NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
BINARY: Final = getattr(os, "O_BINARY", 0)


FileKey = tuple[int, int, int, int, int]


def file_key(status: os.stat_result) -> FileKey:
    """What identifies the bytes that were hashed: size, mtime, inode, device, and ctime.

    The ctime is what makes it hold: a writer can set the mtime back (`touch -r`), but any
    write or `utime` moves the ctime, and no user can set that back.
    """
    return (
        status.st_size,
        status.st_mtime_ns,
        status.st_ino,
        status.st_dev,
        status.st_ctime_ns,
    )


def open_inside(folder: Path, relative: str) -> io.FileIO:
    """Open `folder/relative` for reading, refusing links and anything but a regular file."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(f"{relative!r} is not a plain relative path.", path=folder)
    descriptor = os.open(folder, os.O_RDONLY | DIRECTORY)
    try:
        for depth, part in enumerate(parts[:-1], 1):
            shown = folder.joinpath(*parts[:depth])
            following = _open_part(descriptor, part, shown, os.O_RDONLY | DIRECTORY)
            os.close(descriptor)
            descriptor = following
        # O_NONBLOCK: a FIFO planted in the bundle must not block the open (the fstat refuses it)
        handle = _open_part(descriptor, parts[-1], folder / relative, os.O_RDONLY | NONBLOCK)
    finally:
        os.close(descriptor)
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise UnsafePathError(
            f"{folder / relative} is not a regular file; a bundle holds plain files only.",
            path=folder / relative,
        )
    if NONBLOCK and hasattr(os, "set_blocking"):
        os.set_blocking(handle, True)  # a regular file: plain blocking reads
    return os.fdopen(handle, "rb", buffering=0)


def _open_part(directory: int, name: str, shown: Path, flags: int) -> int:
    """`name` in the open folder `directory`, never through a link; `shown` names it in errors."""
    try:
        return os.open(name, flags | NOFOLLOW, dir_fd=directory)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) or (
            exc.errno == errno.EMLINK  # FreeBSD says EMLINK for O_NOFOLLOW on a link
        ):
            raise UnsafePathError(
                f"{shown} is a symbolic link; a bundle holds plain files only and kubeferry "
                "never follows a link out of it. Replace the link by the file (or make the "
                "bundle again).",
                path=shown,
            ) from exc
        raise


def open_for_writing(path: Path, *, append: bool) -> io.BufferedWriter:
    """`path` opened for writing (appending or from empty), refusing links and non-regular files.

    The lstat comes first so that truncation never reaches a FIFO or device; O_NOFOLLOW then
    closes the window in which a link could be planted.
    """
    plain_or_absent(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    descriptor = open_plain(path, flags)
    return os.fdopen(descriptor, "ab" if append else "wb")


def plain_or_absent(path: Path) -> bool:
    """True for a plain file, False when absent; a link, folder or FIFO there is refused."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(found.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(found.st_mode) else "not a plain file"
        raise UnsafePathError(
            f"{path} is {what}; kubeferry reads and writes only plain files there and left it "
            "(and what it points to) untouched. Remove it and run the command again.",
            path=path,
        )
    return True


def remove_plain(path: Path) -> None:
    """Delete `path` if it is a plain file; a link, folder or FIFO there is refused."""
    if plain_or_absent(path):
        path.unlink(missing_ok=True)


def open_plain(
    path: Path, flags: int = os.O_RDONLY, *, error: type[KubeferryError] = UnsafePathError
) -> int:
    """A descriptor of `path` opened with `flags`, never through a link, only a regular file.

    The one way kubeferry opens a file inside a target: O_NOFOLLOW refuses a planted link (its
    target is left untouched), O_NONBLOCK keeps a FIFO from blocking the open, and the fstat
    refuses FIFOs, devices and folders.
    """
    extra = NOFOLLOW | NONBLOCK | BINARY
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


def write_text_atomically(
    path: Path, text: str, *, mode: int = 0o644, durable: bool = True
) -> None:
    """Write `text` to `path` through a temporary file beside it and a rename (0644 by default;
    0600 for files that hold credentials). `durable=False` skips the fsync, for bookkeeping
    that may be lost in a power cut (it is never trusted without a check).

    A failure (no space, no permission, a missing folder) names `path`, not the temporary file.
    """
    temporary = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, flags | BINARY, mode)
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


def fresh_folder(path: Path) -> None:
    """An empty folder at `path` (a leftover one from a killed run is removed first)."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        found = None
    if found is not None and not stat.S_ISDIR(found.st_mode):
        raise UnsafePathError(
            f"{path} is a symbolic link or a file where kubeferry stages files; remove it and "
            "run again.",
            path=path,
        )
    if found is not None:
        import shutil  # here: shutil loads bz2, lzma and zlib (test_startup_imports.py)

        shutil.rmtree(path)
    path.mkdir(parents=True)


def inside(folder: Path, parts: tuple[str, ...]) -> Path:
    """`folder/parts`, refusing any link on the way (a link could point anywhere)."""
    current = folder
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(
                f"{current} is a symbolic link; a bundle holds plain files only. The bundle was "
                "refused and nothing was placed.",
                path=current,
            )
    return current
