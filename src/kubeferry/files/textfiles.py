"""Small text files: read without following links, parse with errors that name the file, and
write atomically (0644 under the umask, as Rancher Desktop writes its catalog)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from kubeferry.errors import KubeferryError, TextFileError
from kubeferry.files.safe import open_regular

MAX_TEXT_BYTES = 64 * 1024 * 1024
"""A catalog or manifest is kilobytes; anything this large is not one."""
MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (a catalog, a bundle manifest, an OCI
manifest and a GitHub releases page nest 6 levels at most)."""


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


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """True when the arrays and objects of `data` nest deeper than `limit` (or cannot be paired).

    Cheap, before any parser recurses: strings are cut out, only brackets are kept (all of one
    kind: a mismatched pair is the parser's error to name), and each pass removes the innermost
    pairs, one level (C speed: `limit` passes at most, each shorter than the last). Brackets no
    pass can pair make the document invalid; they count as too deep only when they could take a
    parser deeper than `limit` (otherwise the parser names the error).
    """
    brackets = _STRING.sub(b"", data).translate(_ONE_KIND, _NOT_BRACKET)
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return len(brackets) > limit
        brackets = shorter
    return bool(brackets)


def parse_json(
    text: str | bytes,
    *,
    source: str,
    fix: str,
    error: type[KubeferryError] = TextFileError,
    max_depth: int = MAX_JSON_DEPTH,
    max_bytes: int = MAX_TEXT_BYTES,
) -> Any:
    """JSON from `text`; `error` names `source`, where it broke, and `fix`.

    At most `max_bytes` long and `max_depth` arrays or objects deep (checked before parsing, so
    100,000 nested levels are an error, not a RecursionError); integers too long to convert are
    reported the same way. `source` is a file or a URL (the error's `url` then).
    """
    import json  # here: `kubectl list` reaches this module and reads no JSON

    where: dict[str, str] = {"url" if "://" in source else "path": source}
    data = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
    if len(data) > max_bytes:
        raise error(
            f"{source} is {len(data)} bytes, more than the {max_bytes} bytes kubeferry reads as "
            f"one JSON document. {fix}",
            **where,
        )
    if json_depth_exceeds(data, max_depth):
        raise error(
            f"{source} is not valid: arrays and objects nested more than {max_depth} deep. {fix}",
            **where,
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}). {fix}", **where
        ) from exc
    except RecursionError as exc:
        raise error(f"{source} is not valid: nested too deeply. {fix}", **where) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"{source} is not valid: {exc}. {fix}", **where) from exc
