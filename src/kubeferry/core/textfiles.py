"""Small text files: read and parse with errors that name the file, write atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from kubeferry.errors import CatalogError


def read_text(path: Path, *, missing: str) -> str:
    """The file's text; CatalogError names the file (and, when it is absent, what to do)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError(f"{path} does not exist. {missing}", path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read {path}: {exc}", path=path) from exc


def parse_json(text: str, *, source: str, fix: str) -> Any:
    """JSON from `text`; CatalogError names `source`, where it broke, and `fix`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}). {fix}", path=source
        ) from exc


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
