"""`mirror export`: the mirror's tree as static files, for a web server or object store (disk).

Every bundle file is copied (never linked: a link would hand the web server the bundle's inode,
which someone may later change) while it is hashed, and the copy is kept only when the hash
matches the manifest. Digests and JSON are precomputed. Two things static hosting cannot do are
left to `nginx-kubeferry.conf`, a snippet of `location` blocks to include in a `server` whose
root is the export: the channel redirects (302) and JSON content types for the two extensionless
documents. `%2B` needs no rule: nginx decodes the path before it maps it to a file, so
`.../download/v1.32.3%2Bk3s1/k3s` finds the file `v1.32.3+k3s1/k3s`.

The tree is built in a hidden folder beside DIR and renamed into place, so a web server never
sees half an export; a previous export in DIR is replaced, anything else in DIR is refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from kubeferry.errors import MirrorError
from kubeferry.mirror import documents
from kubeferry.mirror.routes import (
    CHANNELS_PATH,
    RELEASES_PATH,
    TAG_PAGE_PREFIX,
    Bundle,
    DigestRoute,
    FileRoute,
    RedirectRoute,
    ReleasesRoute,
    RouteTable,
    TextRoute,
    build_routes,
)
from kubeferry.verification.bundle import copy_verified

MARKER: Final = ".kubeferry-export.json"
SNIPPET: Final = "nginx-kubeferry.conf"
CHANNELS_FILE: Final = "update.k3s.io/v1-release/channels.json"


@dataclass(frozen=True)
class ExportReport:
    """What `export` wrote."""

    folder: Path
    files: int
    bytes: int
    channels: dict[str, str]
    snippet: Path
    replaced: bool

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "folder": str(self.folder),
            "files": self.files,
            "bytes": self.bytes,
            "channels": self.channels,
            "nginx_snippet": str(self.snippet),
            "replaced_previous_export": self.replaced,
        }


def static_name(path: str) -> str:
    """The file (relative to the export) that answers a mirror path."""
    if path == "/":
        return "index.html"
    if path == CHANNELS_PATH:
        return CHANNELS_FILE  # `channels/` is also the folder of the channel names
    if path.endswith("/"):
        return f"{path.lstrip('/')}index.html"  # `/get.k3s.io/`: nginx answers a folder so
    return path.lstrip("/")


def nginx_snippet(table: RouteTable) -> str:
    """`location` blocks for the channel redirects and the JSON content types."""
    prefix = urlsplit(table.base).path.rstrip("/")
    target = table.base if urlsplit(table.base).scheme else f"$scheme://$http_host{prefix}"
    lines = [
        "# kubeferry mirror export: include this inside the nginx `server { }` whose root is",
        "# the export folder. `%2B` in tags needs no rule: nginx decodes the path before it",
        "# looks for the file, so .../download/v1.32.3%2Bk3s1/k3s finds v1.32.3+k3s1/k3s.",
        f"location = {prefix}{CHANNELS_PATH} {{",
        "    default_type application/json;",
        f"    try_files /{CHANNELS_FILE} =404;",
        "}",
        f"location = {prefix}{RELEASES_PATH} {{",
        "    default_type application/json;",
        "}",
        f"location ^~ {prefix}{TAG_PAGE_PREFIX}/ {{",
        "    default_type text/html;",
        "}",
    ]
    for name, tag in sorted(table.channels.items()):
        lines += [
            f"location = {prefix}{CHANNELS_PATH}/{name} {{",
            f"    return 302 {target}{TAG_PAGE_PREFIX}/{tag};",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _write(folder: Path, relative: str, data: bytes, mode: int = 0o644) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def write_tree(table: RouteTable, staging: Path) -> tuple[int, int]:
    """Every route of `table` as a file under `staging`; (files, bytes)."""
    sha512: dict[FileRoute, str] = {}
    count = total = 0
    for path, route in table.routes.items():
        if not isinstance(route, FileRoute):
            continue
        target = staging / static_name(path)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        with target.open("xb") as writer:
            try:
                digests = copy_verified(
                    route.bundle,
                    route.relative,
                    route.size,
                    route.sha256,
                    writer,
                    route.extra_digests,
                    consequence="Nothing was exported.",
                )
            except BaseException:
                target.unlink()
                raise
        target.chmod(0o755 if route.executable else 0o644)
        sha512[route] = digests.get("sha512", "")
        count, total = count + 1, total + route.size
    for path, route in table.routes.items():
        data: bytes | None = None
        if isinstance(route, DigestRoute):
            data = (
                route.source.sha256 if route.algorithm == "sha256" else sha512[route.source]
            ).encode()
        elif isinstance(route, TextRoute):
            data = route.body
        elif isinstance(route, RedirectRoute):
            data = route.target.rsplit("/", 1)[1].encode()  # the tag, for hosts without redirects
        elif isinstance(route, ReleasesRoute):
            data = documents.json_body(list(route.releases))
        if data is not None:
            _write(staging, static_name(path), data)
            count, total = count + 1, total + len(data)
    return count, total


def _make_readable(folder: Path) -> None:
    for root, directories, _ in os.walk(folder):
        for name in directories:
            (Path(root) / name).chmod(0o755)
    folder.chmod(0o755)


def _previous_export(folder: Path, force: bool) -> bool:
    """True when `folder` holds something to replace; MirrorError when it must not be touched."""
    if not folder.exists():
        return False
    if folder.is_symlink() or not folder.is_dir():
        raise MirrorError(f"{folder} exists and is not a folder; choose another DIR.", path=folder)
    if not any(folder.iterdir()):
        return True
    if (folder / MARKER).is_file() or force:
        return True
    raise MirrorError(
        f"{folder} is not empty and is not a previous 'kubeferry mirror export'; nothing was "
        "changed. Choose an empty or new DIR, or pass --force to replace its contents.",
        path=folder,
    )


def export_mirror(
    bundles: Sequence[Bundle], folder: Path, *, base: str = "", force: bool = False
) -> ExportReport:
    """Write the mirror of `bundles` as static files into `folder`, atomically."""
    folder = folder.resolve()
    for bundle in bundles:
        source = bundle.folder.resolve()
        if folder == source or folder in source.parents or source in folder.parents:
            raise MirrorError(
                f"{folder} holds, or is inside, the bundle {bundle.folder}: replacing it would "
                "delete the bundle. Nothing was changed; export into a folder of its own.",
                path=folder,
            )
    table = build_routes(bundles, base)
    replacing = _previous_export(folder, force)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.kubeferry-export-{os.getpid()}"
    retired = folder.parent / f".{folder.name}.kubeferry-old-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o755)
    try:
        count, total = write_tree(table, staging)
        snippet = _write(staging, SNIPPET, nginx_snippet(table).encode())
        marker = {
            "kind": "kubeferry-mirror-export",
            "created": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "base": base,
            "bundles": [str(bundle.folder) for bundle in bundles],
        }
        _write(staging, MARKER, (json.dumps(marker, indent=2) + "\n").encode())
        _make_readable(staging)
        if replacing:
            folder.rename(retired)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if retired.exists() and not folder.exists():
            retired.rename(folder)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    channels = {name: str(tag) for name, tag in table.channels.items()}
    return ExportReport(folder, count, total, channels, folder / snippet.name, replacing)
