"""The bundle manifest `kubeferry-bundle.json`: build, parse, and distrust (pure).

Nothing from a manifest is trusted: every path must be relative, in POSIX form, without `..`,
empty or `.` parts, backslashes or drive letters, and must name a place kubeferry knows
(`k3s/<tag>/<asset>` or `kuberlr/<os>-<arch>/kubectl<M.m.p>[.exe]`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubeferry.core.kuberlr import parse_binary_name
from kubeferry.core.platforms import ARCHITECTURES, OPERATING_SYSTEMS, K3sAssets
from kubeferry.core.textfiles import parse_json
from kubeferry.core.versions import is_cache_folder_name
from kubeferry.errors import CatalogError, UnsafePathError

FORMAT_VERSION: Final = 1
KIND: Final = "kubeferry-bundle"
_ASSET_NAMES: Final = frozenset(
    name for arch in ARCHITECTURES for name in K3sAssets(arch).all_names
)
_HEX: Final = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ManifestFile:
    """One file the bundle holds."""

    path: str
    size: int
    sha256: str
    url: str


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
            "files": [
                {"path": f.path, "size": f.size, "sha256": f.sha256, "url": f.url}
                for f in self.files
            ],
        }
        return json.dumps(document, indent=2) + "\n"


def check_relative_path(path: str, *, source: str) -> tuple[str, ...]:
    """The parts of a safe relative path; UnsafePathError otherwise."""
    problem = None
    if not path or path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        problem = "is absolute"
    elif "\\" in path or "\0" in path:
        problem = "contains a backslash or NUL"
    else:
        parts = tuple(path.split("/"))
        if any(part in ("", ".", "..") for part in parts):
            problem = "contains '..', '.' or an empty part"
        else:
            return parts
    raise UnsafePathError(
        f"{source} lists {path!r}, which {problem}; a bundle may only name files inside its "
        "folder. The bundle was refused and nothing was placed. Recreate it with "
        "'kubeferry bundle create'.",
        path=source,
    )


def classify(path: str, *, source: str) -> tuple[str, tuple[str, ...]]:
    """('k3s' | 'kubectl' | 'catalog', parts) for a known bundle path; UnsafePathError otherwise."""
    parts = check_relative_path(path, source=source)
    if parts == ("k3s-versions.json",):
        return "catalog", parts
    if (
        len(parts) == 3
        and parts[0] == "k3s"
        and is_cache_folder_name(parts[1])
        and parts[2] in _ASSET_NAMES
    ):
        return "k3s", parts
    if len(parts) == 3 and parts[0] == "kuberlr":
        os_name, _, arch = parts[1].partition("-")
        windows = os_name == "windows"
        if (
            os_name in OPERATING_SYSTEMS
            and arch in ARCHITECTURES
            and parse_binary_name(parts[2], windows=windows) is not None
            and parts[2].endswith(".exe") == windows
        ):
            return "kubectl", parts
    raise UnsafePathError(
        f"{source} lists {path!r}, which is not a place a kubeferry bundle writes "
        "(k3s/<tag>/<asset>, kuberlr/<os>-<arch>/kubectl<version>). The bundle was refused and "
        "nothing was placed.",
        path=source,
    )


def _file_entry(entry: Any, source: str) -> ManifestFile:
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{source}: a 'files' entry is not an object.", path=source)
    path, size, digest = entry.get("path"), entry.get("size"), entry.get("sha256")
    if (
        not isinstance(path, str)
        or not isinstance(size, int)
        or size < 0
        or not isinstance(digest, str)
        or len(digest) != 64
        or not set(digest) <= _HEX
    ):
        raise CatalogError(
            f"{source}: entry {entry!r:.120} needs 'path', a size and a 64-hex 'sha256'.",
            path=source,
        )
    classify(path, source=source)
    return ManifestFile(path, size, digest, str(entry.get("url", "")))


def parse_manifest(text: str, *, source: str) -> Manifest:
    """A validated manifest; CatalogError or UnsafePathError name the file and the problem."""
    document = parse_json(
        text, source=source, fix="The bundle is damaged: copy it again or recreate it."
    )
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise CatalogError(f"{source} is not a kubeferry bundle manifest.", path=source)
    if document.get("format") != FORMAT_VERSION:
        raise CatalogError(
            f"{source} has format {document.get('format')!r}; this kubeferry reads format "
            f"{FORMAT_VERSION}. Use the kubeferry version that made the bundle.",
            path=source,
        )
    files = document.get("files")
    if not isinstance(files, list) or not files:
        raise CatalogError(f"{source} lists no files.", path=source)
    entries = tuple(_file_entry(entry, source) for entry in files)
    seen: set[str] = set()
    for entry in entries:
        if entry.path in seen:
            raise CatalogError(f"{source} lists {entry.path} twice.", path=source)
        seen.add(entry.path)
    targets = document.get("targets") if isinstance(document.get("targets"), dict) else {}
    return Manifest(
        str(document.get("created", "")), str(document.get("tool", "")), targets, entries
    )


def build_manifest(
    created: str, tool: str, targets: Mapping[str, Any], files: Sequence[ManifestFile]
) -> Manifest:
    """A manifest for files already verified on disk, sorted by path."""
    return Manifest(created, tool, targets, tuple(sorted(files, key=lambda f: f.path)))
