"""Small text files: read with an error that names the file, write atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kubeferry.errors import CatalogError


def read_text(path: Path, *, missing: str) -> str:
    """The file's text; CatalogError names the file (and, when it is absent, what to do)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError(f"{path} does not exist. {missing}", path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read {path}: {exc}", path=path) from exc


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
