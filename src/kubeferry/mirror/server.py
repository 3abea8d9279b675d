"""`mirror serve`: verified bundles over HTTP(S) in the upstream URL layouts, on aiohttp.

The pieces: `copies` (each file copied once into a private verified copy, checked per request),
`sending` (conditionals, Range, sendfile from the copy), `handler` (addresses, routes, the access
log), `connections` (deadlines, the connection cap, one-line logs). This module puts them on a
listening socket and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import socket
import ssl
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from kubeferry.errors import MirrorError
from kubeferry.files.safe import anonymous_file, open_folder
from kubeferry.mirror.connections import (
    ACCEPT_BATCH,
    HEADER_TIMEOUT,
    IDLE_TIMEOUT,
    Connections,
    GuardedHandler,
    OneLineFormatter,
    RateLimitedLog,
    connection_cap,
    handler_class,
    raise_open_files_limit,
)
from kubeferry.mirror.copies import VerifiedCopies
from kubeferry.mirror.handler import AccessLog, Bases, MirrorApp
from kubeferry.mirror.image_store import ImageStore
from kubeferry.mirror.routes import Bundle, build_routes

LOG: Final = logging.getLogger("kubeferry.mirror")
HASH_WORKERS: Final = 2
LISTEN_QUEUE: Final = 4096  # a burst of connections waits in the kernel rather than SYN retries
MAX_LINE: Final = 8190  # request line and each header field, as nginx's large buffers


@dataclass(frozen=True)
class ServeOptions:
    """Where and how to listen."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    access_log: Path | None = None
    public_url: str = ""
    public_names: tuple[str, ...] = ()
    copies_dir: Path | None = None
    images: ImageStore | None = None  # the registry API under /v2/ (mirror/registry_api.py)


class MirrorServer(web.Server):
    """aiohttp's low-level server making GuardedHandler connections."""

    def __init__(self, handler: Any, protocol: type[GuardedHandler], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._protocol = protocol

    def __call__(self) -> GuardedHandler:
        """A connection's protocol."""
        return self._protocol(self, loop=self._loop, **self._kwargs)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server TLS context from PEM files; MirrorError names the file that fails."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise MirrorError(
            f"the TLS certificate {cert} or key {key} cannot be used ({exc}); give PEM files "
            "that belong together.",
            path=cert,
        ) from exc
    return context


def _logger(name: str, destination: Path | None, form: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers.clear()
    handler: logging.Handler = (
        logging.FileHandler(destination) if destination else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(OneLineFormatter(form))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); MirrorError when it cannot be had."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind, protocol)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(1024)
    except OSError as exc:
        raise MirrorError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another address "
            "with --listen HOST:PORT (port 0 picks a free one).",
        ) from exc
    return listening


def _open_roots(bundles: Sequence[Bundle], images: ImageStore | None) -> dict[Path, int]:
    """A descriptor of every folder files are sent from: the bundles, and the blob cache the
    registry API's airgap image blobs were unpacked into."""
    folders = [bundle.folder for bundle in bundles]
    if images is not None:
        contents = (*images.manifests.values(), *images.blobs.values())
        folders += [c.route.bundle for c in contents if c.route is not None]
    roots: dict[Path, int] = {}
    for folder in dict.fromkeys(folders):
        try:
            roots[folder] = open_folder(folder)
        except OSError as exc:
            raise MirrorError(
                f"cannot open the folder {folder} ({exc.strerror}).", path=folder
            ) from exc
    return roots


def _copies_folder(chosen: Path | None) -> Path:
    """Where private copies go; checked now, so a bad folder fails before anything listens."""
    folder = chosen or Path(tempfile.gettempdir())
    try:
        os.close(anonymous_file(folder))
    except OSError as exc:
        raise MirrorError(
            f"cannot make private copies in {folder} ({exc.strerror}); the mirror sends only "
            "from copies it verified. Choose a writable folder with --copies-dir DIR.",
            path=folder,
        ) from exc
    return folder


def _server(
    mirror: MirrorApp, connections: Connections, options: ServeOptions, errors: logging.Logger
) -> MirrorServer:
    access = _logger("kubeferry.mirror.access", options.access_log, "%(message)s")
    return MirrorServer(
        mirror.handle,
        handler_class(connections),
        access_log_class=AccessLog,
        access_log=access,
        logger=errors,
        keepalive_timeout=IDLE_TIMEOUT,
        max_line_size=MAX_LINE,
        max_field_size=MAX_LINE,
        lingering_time=1.0,
    )


def _stopped_by_signals(loop: asyncio.AbstractEventLoop) -> asyncio.Future[int]:
    """A future that SIGINT sets to 130 and SIGTERM to 0."""
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(code: int) -> None:
        if not stopped.done():
            stopped.set_result(code)

    for number, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        loop.add_signal_handler(number, stop, code)
    return stopped


def _bases(
    options: ServeOptions, listening: socket.socket, context: ssl.SSLContext | None
) -> Bases:
    host = f"[{options.host}]" if ":" in options.host else options.host
    address = f"{host}:{listening.getsockname()[1]}"
    scheme = "https" if context else "http"
    return Bases(scheme, address, options.public_url, options.public_names)


async def serve_forever(
    bundles: Sequence[Bundle], options: ServeOptions, on_ready: Callable[[str, str], None]
) -> int:
    """Serve until SIGINT or SIGTERM; the exit code (130 for SIGINT, 0 for SIGTERM).
    `on_ready(listening, public)`: the address it listens on, the base its links point at."""
    _logger(LOG.name, None, "kubeferry mirror: %(message)s")  # verifications and refusals
    errors = _logger("kubeferry.mirror.errors", None, "kubeferry mirror: %(message)s")
    _logger("asyncio", None, "kubeferry mirror: %(message)s").setLevel(logging.WARNING)
    rate_limited = RateLimitedLog(errors)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(rate_limited.loop_errors)
    build_routes(bundles, "")  # a conflict between bundles shows before anything listens
    context = (
        tls_context(options.tls_cert, options.tls_key)
        if options.tls_cert and options.tls_key
        else None
    )
    folder = _copies_folder(options.copies_dir)
    roots = _open_roots(bundles, options.images)
    files = sum(len(bundle.entries) for bundle in bundles)
    files += len(options.images.blobs) if options.images is not None else 0  # cached blobs
    connections = Connections(
        connection_cap(raise_open_files_limit(), len(bundles) + 2 * files), rate_limited
    )
    executor = concurrent.futures.ThreadPoolExecutor(HASH_WORKERS, "kubeferry-hash")
    copies = VerifiedCopies(executor, folder, roots)
    stopped = _stopped_by_signals(loop)
    listener: asyncio.Server | None = None
    server: MirrorServer | None = None
    try:
        listening = bind(options.host, options.port)
        bases = _bases(options, listening, context)
        mirror = MirrorApp(bundles, copies, bases, options.images)
        listening_base = f"{bases.scheme}://{bases.listen}"
        base = options.public_url.rstrip("/") or listening_base
        mirror.table(base)  # build once now, so a conflict shows before anyone connects
        server = _server(mirror, connections, options, errors)
        listener = await loop.create_server(
            server,
            sock=listening,
            ssl=context,
            backlog=ACCEPT_BATCH,
            ssl_handshake_timeout=HEADER_TIMEOUT if context else None,
        )
        listening.listen(LISTEN_QUEUE)  # the kernel's queue; accept() takes ACCEPT_BATCH a turn
        on_ready(listening_base, base)
        return await stopped
    finally:
        if listener is not None:
            listener.close()
        if server is not None:
            await server.shutdown(0.1)  # open downloads are cut: clients resume with Range
        executor.shutdown(wait=False, cancel_futures=True)
        copies.close()
        for descriptor in roots.values():
            os.close(descriptor)
