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


def mirror_status(base: str) -> list[str]:
    """What a client needs, line by line, for a mirror at `base`: the first says where."""
    from kubeferry.mirror.documents import client_settings

    return [f"serving at {base}/"] + [f"{s.line}    # {s.note}" for s in client_settings(base)]


def serve_mirror(
    folders: Sequence[Path],
    host: str,
    port: int,
    *,
    tls: tuple[Path, Path] | None = None,
    access_log: Path | None = None,
    on_ready: Callable[[str], None],
) -> int:
    """Serve the bundles in `folders` until SIGINT or SIGTERM; the exit code (130 after SIGINT).

    `on_ready(base)` is called once the socket listens (with port 0, `base` names the real one).
    """
    from kubeferry.mirror.server import ServeOptions, serve_forever

    loaded = _bundles(folders)
    cert, key = tls if tls else (None, None)
    options = ServeOptions(host, port, cert, key, access_log)
    return asyncio.run(serve_forever(loaded, options, on_ready))


def export_mirror(
    folders: Sequence[Path], target: Path, *, base_url: str = "", force: bool = False
) -> ExportReport:
    """Write the bundles in `folders` as static files into `target`, with an nginx snippet."""
    from kubeferry.mirror.export import export_mirror as export

    return export(_bundles(folders), target, base=base_url.rstrip("/"), force=force)
