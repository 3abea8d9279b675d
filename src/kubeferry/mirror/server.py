"""`mirror serve`: verified bundles over HTTP(S) in the upstream URL layouts, on aiohttp.

aiohttp's FileResponse answers `Range` (206), `HEAD`, `ETag`/`Last-Modified` and conditional
requests, and sends with `sendfile` (zero-copy) on plain HTTP. What this module adds: every file
is hashed against its manifest before it is first served and again whenever its
(size, mtime_ns, inode) changes, in a thread pool, one hashing per file however many clients ask
at once; a file that fails is refused with a 503 naming it, never sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
import os
import signal
import socket
import ssl
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from kubeferry.errors import KubeferryError, MirrorError
from kubeferry.files.safe import FileKey, file_key
from kubeferry.mirror import documents
from kubeferry.mirror.routes import (
    Bundle,
    DigestRoute,
    FileRoute,
    RedirectRoute,
    ReleasesRoute,
    RouteTable,
    TextRoute,
    build_routes,
    route_path,
)
from kubeferry.verification.bundle import Verified, verify_file

LOG: Final = logging.getLogger("kubeferry.mirror")
ACCESS_FORMAT: Final = '%a %t "%r" %s %b "%{User-Agent}i" %Tfs'
MAX_TABLES: Final = 16
HASH_WORKERS: Final = 2


@dataclass(frozen=True)
class ServeOptions:
    """Where and how to listen."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    access_log: Path | None = None


class Verifier:
    """Hashes each file once per (size, mtime_ns, inode); concurrent askers share one hashing."""

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self._executor = executor
        self._known: dict[FileRoute, tuple[FileKey, Verified | KubeferryError]] = {}
        self._pending: dict[tuple[FileRoute, FileKey | None], asyncio.Future[Any]] = {}

    async def check(self, route: FileRoute) -> Verified | KubeferryError:
        """The verified digests of `route`'s file, or the error that refuses it."""
        current = _current_key(route)
        known = self._known.get(route)
        if known is not None and known[0] == current:
            return known[1]
        pending = self._pending.get((route, current))
        if pending is None:
            pending = asyncio.ensure_future(self._verify(route, current))
            self._pending[(route, current)] = pending
        outcome: Verified | KubeferryError = await asyncio.shield(pending)
        return outcome

    async def _verify(self, route: FileRoute, current: FileKey | None) -> Verified | KubeferryError:
        extra = route.extra_digests
        loop = asyncio.get_running_loop()
        try:
            outcome: Verified | KubeferryError = await loop.run_in_executor(
                self._executor,
                functools.partial(
                    verify_file,
                    route.bundle,
                    route.relative,
                    route.size,
                    route.sha256,
                    extra,
                    consequence="It is not served.",
                ),
            )
            LOG.info("verified %s", route.bundle / route.relative)
        except KubeferryError as exc:
            LOG.error("refusing %s: %s", route.bundle / route.relative, exc)
            outcome = exc
        except OSError as exc:
            outcome = MirrorError(
                f"{route.bundle / route.relative} cannot be read ({exc.strerror}); it is not "
                "served. Check the bundle folder.",
                path=route.bundle / route.relative,
            )
            LOG.error("refusing %s: %s", route.bundle / route.relative, outcome)
        finally:
            self._pending.pop((route, current), None)
        key = outcome.key if isinstance(outcome, Verified) else current
        if key is not None:
            self._known[route] = (key, outcome)
        return outcome


def _current_key(route: FileRoute) -> FileKey | None:
    try:
        return file_key(os.lstat(route.bundle / route.relative))
    except OSError:
        return None


class VerifiedFileResponse(web.FileResponse):
    """A FileResponse for exactly the verified file: no compressed siblings, no links."""

    def __init__(self, path: Path, key: FileKey, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._verified_key = key

    def _get_file_path_stat_encoding(
        self, accept_encoding: str
    ) -> tuple[Path, os.stat_result, str | None]:
        # aiohttp would serve `<name>.gz`/`.br` beside the file: bytes nobody verified. And the
        # file must still be the one verified (not replaced, not a link) when it is opened.
        status = self._path.lstat()
        if not stat.S_ISREG(status.st_mode) or file_key(status) != self._verified_key:
            raise FileNotFoundError(f"{self._path} changed after it was verified")
        return self._path, status, None


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


class MirrorApp:
    """The request handler: route lookup, verification, the generated bodies."""

    def __init__(self, bundles: Sequence[Bundle], verifier: Verifier) -> None:
        self._bundles = bundles
        self._verifier = verifier
        self._tables: dict[str, RouteTable] = {}

    def table(self, base: str) -> RouteTable:
        """The route table whose links point at `base` (one per address clients use)."""
        table = self._tables.get(base)
        if table is None:
            if len(self._tables) >= MAX_TABLES:
                self._tables.clear()
            table = self._tables[base] = build_routes(self._bundles, base)
        return table

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one GET or HEAD."""
        path = route_path(request.raw_path)
        if path is None:
            return _text(400, f"refused: {request.raw_path!r} is not a plain path in the mirror")
        base = f"{request.scheme}://{request.host}"
        route = self.table(base).routes.get(path)
        if route is None:
            return _text(404, f"not found: {path} is not in the mirror's bundles (see {base}/)")
        if isinstance(route, FileRoute):
            return await self._file(route)
        if isinstance(route, DigestRoute):
            return await self._digest(request, route)
        if isinstance(route, TextRoute):
            return _body(request, route.body, route.content_type)
        if isinstance(route, RedirectRoute):
            raise web.HTTPFound(f"{base}{route.target}")
        return self._releases(request, route, f"{base}{path}")

    async def _file(self, route: FileRoute) -> web.StreamResponse:
        verified = await self._verifier.check(route)
        if isinstance(verified, KubeferryError):
            return _text(503, f"refused: {verified}")
        content_type = "text/plain" if route.relative.endswith(".txt") else None
        headers = {"Content-Type": content_type or "application/octet-stream"}
        return VerifiedFileResponse(route.bundle / route.relative, verified.key, headers=headers)

    async def _digest(self, request: web.Request, route: DigestRoute) -> web.StreamResponse:
        if route.algorithm == "sha256":
            return _body(request, route.source.sha256.encode(), "text/plain")
        verified = await self._verifier.check(route.source)
        if isinstance(verified, KubeferryError):
            return _text(503, f"refused: {verified}")
        return _body(request, verified.digests[route.algorithm].encode(), "text/plain")

    def _releases(self, request: web.Request, route: ReleasesRoute, url: str) -> web.Response:
        page, per_page = documents.page_numbers(request.query)
        body, link = documents.releases_page(route.releases, url, page, per_page)
        response = _body(request, body, "application/json")
        if link:
            response.headers["Link"] = link
        return response


def _body(request: web.Request, body: bytes, content_type: str) -> web.Response:
    """A generated body with a strong ETag, answering If-None-Match with 304."""
    etag = hashlib.sha256(body).hexdigest()[:32]
    if request.if_none_match and any(item.value == etag for item in request.if_none_match):
        return web.Response(status=304, headers={"ETag": f'"{etag}"'})
    response = web.Response(body=body, content_type=content_type.split(";")[0])
    response.headers["ETag"] = f'"{etag}"'
    return response


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
    handler.setFormatter(logging.Formatter(form))
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


def _stop(stopped: asyncio.Future[int], code: int) -> None:
    if not stopped.done():
        stopped.set_result(code)


async def serve_forever(
    bundles: Sequence[Bundle], options: ServeOptions, on_ready: Callable[[str], None]
) -> int:
    """Serve until SIGINT or SIGTERM; the exit code (130 for SIGINT, 0 for SIGTERM)."""
    _logger(LOG.name, None, "kubeferry mirror: %(message)s")  # verifications and refusals
    executor = concurrent.futures.ThreadPoolExecutor(HASH_WORKERS, "kubeferry-hash")
    mirror = MirrorApp(bundles, Verifier(executor))
    app = web.Application()
    app.router.add_get("/{tail:.*}", mirror.handle)
    cert, key = options.tls_cert, options.tls_key  # both or neither (the command checks)
    context = tls_context(cert, key) if cert and key else None
    runner = web.AppRunner(
        app,
        access_log=_logger("kubeferry.mirror.access", options.access_log, "%(message)s"),
        access_log_format=ACCESS_FORMAT,
        shutdown_timeout=0.1,  # open downloads are cut: clients resume with Range
    )
    build_routes(bundles, "")  # a conflict between bundles shows before anything listens
    await runner.setup()
    stopped: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    for number, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        loop.add_signal_handler(number, _stop, stopped, code)
    try:
        listening = bind(options.host, options.port)
        site = web.SockSite(runner, listening, ssl_context=context)
        await site.start()
        host = f"[{options.host}]" if ":" in options.host else options.host
        base = f"{'https' if context else 'http'}://{host}:{listening.getsockname()[1]}"
        mirror.table(base)  # build once now, so a conflict shows before anyone connects
        on_ready(base)
        return await stopped
    finally:
        await runner.cleanup()
        executor.shutdown(wait=False, cancel_futures=True)
