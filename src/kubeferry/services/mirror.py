"""`mirror serve|export` as services: verified bundles for a whole fleet, in upstream layouts.

The mirror itself is mirror/ (routes, documents, server, export); this is the door to it. Each
bundle is read (manifest, and the catalog when it matches) before anything listens or is written.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kubeferry.settings import Settings

if TYPE_CHECKING:  # aiohttp loads only when a mirror is served
    from kubeferry.mirror.export import ExportReport
    from kubeferry.mirror.routes import Bundle
    from kubeferry.verification.keys import Trust


def _bundles(
    folders: Sequence[Path], trust: Trust | None, consequence: str = "the mirror did not start"
) -> list[Bundle]:
    """Each bundle read; with trusted keys configured, every signature checked first (a refused
    bundle is never served nor exported)."""
    from kubeferry.mirror.files import read_bundle

    if trust is None:
        return [read_bundle(folder) for folder in folders]
    from kubeferry.verification.trust import require_trusted

    checks = [require_trusted(folder, trust, consequence=consequence) for folder in folders]
    # served from the very manifest whose signature was checked (read again, compared)
    return [
        read_bundle(folder, check.manifest) for folder, check in zip(folders, checks, strict=True)
    ]


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
    trust: Trust | None = None,
    blob_cache: Path | None = None,
    warn: Callable[[str], object] = lambda note: None,
) -> int:
    """Serve the bundles in `folders` until SIGINT or SIGTERM; the exit code (130 after SIGINT).

    `on_ready(listening, base)` is called once the socket listens (with port 0, `listening`
    names the real one); `base` is where links point (`public_url`, or `listening`).
    """
    from kubeferry.mirror.image_store import build_store
    from kubeferry.mirror.server import ServeOptions, serve_forever

    loaded = _bundles(folders, trust)
    images = build_store(loaded, blob_cache or _blob_cache(os.environ, Path.home()))
    for note in images.notes:
        warn(note)
    cert, key = tls if tls else (None, None)
    options = ServeOptions(
        host, port, cert, key, access_log, public_url, public_names, copies_dir, images
    )
    return asyncio.run(serve_forever(loaded, options, on_ready))


def export_mirror(
    folders: Sequence[Path],
    target: Path,
    *,
    base_url: str = "",
    force: bool = False,
    trust: Trust | None = None,
) -> ExportReport:
    """Write the bundles in `folders` as static files into `target`, with an nginx snippet."""
    from kubeferry.mirror.export import export_mirror as export

    loaded = _bundles(folders, trust, consequence="nothing was exported")
    return export(loaded, target, base=base_url.rstrip("/"), force=force)


def default_blob_cache(settings: Settings) -> Path:
    """Where `mirror serve` unpacks k3s airgap archives once for /v2/:
    `${XDG_CACHE_HOME:-~/.cache}/kubeferry/mirror-blobs`."""
    return _blob_cache(settings.environ, settings.home)


def _blob_cache(environ: Mapping[str, str], home: Path) -> Path:
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(environ.get("HOME") or home) / ".cache"
    return base / "kubeferry" / "mirror-blobs"
