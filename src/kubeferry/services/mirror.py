"""`mirror serve|export` as services: verified bundles for a whole fleet, in upstream layouts.

The mirror itself is mirror/ (routes, documents, server, export); this is the door to it. Each
bundle is read (manifest, and the catalog when it matches) before anything listens or is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # aiohttp loads only when a mirror is served
    from kubeferry.mirror.export import ExportReport
    from kubeferry.mirror.routes import Bundle


def _bundles(folders: Sequence[Path]) -> list[Bundle]:
    from kubeferry.mirror.files import read_bundle

    return [read_bundle(folder) for folder in folders]


def mirror_status(listening: str, base: str = "") -> list[str]:
    """What a client needs, line by line, for a mirror listening at `listening` whose links
    point at `base` (the same by default): the first line says where."""
    from kubeferry.mirror.documents import client_settings

    base = base or listening
    first = f"serving at {listening}/" + (f" (links point at {base}/)" if base != listening else "")
    return [first] + [f"{s.line}    # {s.note}" for s in client_settings(base)]


def serve_mirror(
    folders: Sequence[Path],
    host: str,
    port: int,
    *,
    tls: tuple[Path, Path] | None = None,
    access_log: Path | None = None,
    public_url: str = "",
    public_names: tuple[str, ...] = (),
    copies_dir: Path | None = None,
    on_ready: Callable[[str, str], None],
) -> int:
    """Serve the bundles in `folders` until SIGINT or SIGTERM; the exit code (130 after SIGINT).

    `on_ready(listening, base)` is called once the socket listens (with port 0, `listening`
    names the real one); `base` is where links point (`public_url`, or `listening`).
    """
    from kubeferry.mirror.server import ServeOptions, serve_forever

    loaded = _bundles(folders)
    cert, key = tls if tls else (None, None)
    options = ServeOptions(host, port, cert, key, access_log, public_url, public_names, copies_dir)
    return asyncio.run(serve_forever(loaded, options, on_ready))


def export_mirror(
    folders: Sequence[Path], target: Path, *, base_url: str = "", force: bool = False
) -> ExportReport:
    """Write the bundles in `folders` as static files into `target`, with an nginx snippet."""
    from kubeferry.mirror.export import export_mirror as export

    return export(_bundles(folders), target, base=base_url.rstrip("/"), force=force)
