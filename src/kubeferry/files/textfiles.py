"""Small text files: read without following links, parse with errors that name the file, and
write atomically (0644 under the umask, as Rancher Desktop writes its catalog)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kubeferry.errors import KubeferryError, TextFileError
from kubeferry.files.safe import open_regular

MAX_TEXT_BYTES = 64 * 1024 * 1024
"""A catalog or manifest is kilobytes; anything this large is not one."""


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
