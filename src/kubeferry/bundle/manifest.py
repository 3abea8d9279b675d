"""The bundle manifest `kubeferry-bundle.json`: build, parse, and distrust (pure).

Nothing from a manifest is trusted: every path must be relative, in POSIX form, without `..`,
empty or `.` parts, backslashes or drive letters, and must name a place kubeferry knows
(`k3s/<tag>/<asset>` or `kuberlr/<os>-<arch>/kubectl<M.m.p>[.exe]`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubeferry.core.layouts import (
    MANIFEST_NAME,
    BundlePath,
    parse_bundle_path,
    split_relative_path,
)
from kubeferry.errors import ManifestError, UnsafePathError
from kubeferry.files.textfiles import parse_json

FORMAT_VERSION: Final = 1
MAX_FILES: Final = 10_000
"""A bundle lists at most this many files (one k3s version with every asset is under 40)."""
MAX_MANIFEST_BYTES: Final = 16 * 1024 * 1024
"""A manifest of MAX_FILES entries is about 3 MB; a larger one is refused unread."""
KIND: Final = "kubeferry-bundle"
_HEX: Final = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ManifestFile:
    """One file the bundle holds, its path parsed once into `place` (kind, tag, os, arch...)."""

    path: str
    size: int
    sha256: str
    url: str
    place: BundlePath = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "place", classify(self.path, source=MANIFEST_NAME))

    @property
    def kind(self) -> str:
        """`catalog`, `k3s` or `kubectl`."""
        return self.place.kind

    def as_dict(self) -> dict[str, object]:
        """The entry as written in the manifest."""
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "url": self.url}


@dataclass(frozen=True)
class Manifest:
    """A bundle's manifest."""

    created: str
    tool: str
    targets: Mapping[str, Any]
    files: tuple[ManifestFile, ...]

    def to_json(self) -> str:
        """The manifest as written to disk."""
        document = {
            "kind": KIND,
            "format": FORMAT_VERSION,
            "created": self.created,
            "tool": self.tool,
            "targets": dict(self.targets),
            "files": [f.as_dict() for f in self.files],
        }
        return json.dumps(document, indent=2) + "\n"


def check_relative_path(path: str, *, source: str) -> tuple[str, ...]:
    """The parts of a safe relative path; UnsafePathError otherwise."""
    parts = split_relative_path(path)
    if parts is not None:
        return parts
    raise UnsafePathError(
        f"{source} lists {path!r}, which is absolute or contains '..', '.', an empty part, a "
        "backslash or NUL; a bundle may only name files inside its folder. The bundle was "
        "refused and nothing was placed. Recreate it with 'kubeferry bundle create'.",
        path=source,
    )


def classify(path: str, *, source: str) -> BundlePath:
    """The parsed place of a known bundle path; UnsafePathError otherwise."""
    check_relative_path(path, source=source)
    place = parse_bundle_path(path)
    if place is not None:
        return place
    raise UnsafePathError(
        f"{source} lists {path!r}, which is not a place a kubeferry bundle writes "
        "(k3s/<tag>/<asset>, kuberlr/<os>-<arch>/kubectl<version>). The bundle was refused and "
        "nothing was placed.",
        path=source,
    )


def _file_entry(entry: Any, source: str) -> ManifestFile:
    if not isinstance(entry, Mapping):
        raise ManifestError(f"{source}: a 'files' entry is not an object.", path=source)
    path, size, digest = entry.get("path"), entry.get("size"), entry.get("sha256")
    if (
        not isinstance(path, str)
        or not isinstance(size, int)
        or size < 0
        or not isinstance(digest, str)
        or len(digest) != 64
        or not set(digest) <= _HEX
    ):
        raise ManifestError(
            f"{source}: entry {entry!r:.120} needs 'path', a size and a 64-hex 'sha256'.",
            path=source,
        )
    classify(path, source=source)  # names the real manifest file when it fails
    return ManifestFile(path, size, digest, str(entry.get("url", "")))


def parse_manifest(text: str, *, source: str) -> Manifest:
    """A validated manifest; ManifestError or UnsafePathError name the file and the problem."""
    document = parse_json(
        text,
        source=source,
        fix="The bundle is damaged: copy it again or recreate it.",
        error=ManifestError,
        max_bytes=MAX_MANIFEST_BYTES,
    )
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ManifestError(f"{source} is not a kubeferry bundle manifest.", path=source)
    if document.get("format") != FORMAT_VERSION:
        raise ManifestError(
            f"{source} has format {document.get('format')!r}; this kubeferry reads format "
            f"{FORMAT_VERSION}. Use the kubeferry version that made the bundle.",
            path=source,
        )
    files = document.get("files")
    if not isinstance(files, list) or not files:
        raise ManifestError(f"{source} lists no files.", path=source)
    if len(files) > MAX_FILES:
        raise ManifestError(
            f"{source} lists {len(files)} files; a kubeferry bundle holds at most {MAX_FILES}. "
            "The bundle was refused and nothing was placed; recreate it with 'kubeferry bundle "
            "create' (or split it into several bundles).",
            path=source,
        )
    entries = tuple(_file_entry(entry, source) for entry in files)
    seen: set[str] = set()
    for entry in entries:
        if entry.path in seen:
            raise ManifestError(f"{source} lists {entry.path} twice.", path=source)
        seen.add(entry.path)
    found = document.get("targets")
    targets: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return Manifest(
        str(document.get("created", "")), str(document.get("tool", "")), targets, entries
    )


def build_manifest(
    created: str, tool: str, targets: Mapping[str, Any], files: Sequence[ManifestFile]
) -> Manifest:
    """A manifest for files already verified on disk, sorted by path."""
    return Manifest(created, tool, targets, tuple(sorted(files, key=lambda f: f.path)))
