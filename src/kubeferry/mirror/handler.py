"""The mirror's request handler: addresses, route lookup, verified files, the access log.

Links in generated bodies (the channel redirect, JSON links, the index page) point at a base
taken from configuration, never from whatever a client sends: `--public-url` when given;
otherwise the `Host` header only when it names the address the client connected to, the
listen address, or a name given with `--public-name`; otherwise the address the client
connected to. Route tables are built once per base (a bounded set).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from kubeferry.errors import KubeferryError
from kubeferry.mirror import documents
from kubeferry.mirror.connections import GuardedHandler
from kubeferry.mirror.copies import VerifiedCopies, client_reason
from kubeferry.mirror.image_store import ImageStore
from kubeferry.mirror.registry_api import RegistryApi
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
from kubeferry.mirror.sending import file_response

MAX_TABLES: Final = 16


class Bases:
    """The base URL each request's links are built on."""

    def __init__(
        self, scheme: str, listen: str, public_url: str = "", names: Iterable[str] = ()
    ) -> None:
        self.scheme = scheme
        self.listen = listen
        self.public_url = public_url.rstrip("/")
        self.port = listen.rsplit(":", 1)[1]
        allowed = {listen.lower()}
        for name in names:
            name = name.strip().lower()
            allowed |= {name} if _has_port(name) else {name, f"{name}:{self.port}"}
        self._allowed = frozenset(allowed)

    def for_request(self, request: BaseRequest) -> str:
        """`--public-url`, the Host header when it is one of ours, or the address reached."""
        if self.public_url:
            return self.public_url
        local = self._local(request)
        host = (request.headers.get("Host") or "").strip().lower()
        if host and (host == local or host in self._allowed):
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{local}"

    def _local(self, request: BaseRequest) -> str:
        transport = request.transport
        address = transport.get_extra_info("sockname") if transport is not None else None
        if not address:
            return next(iter(sorted(self._allowed)))
        host, port = str(address[0]), address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _has_port(name: str) -> bool:
    tail = name.rsplit("]", 1)[-1]
    return ":" in tail and tail.rsplit(":", 1)[1].isdigit()


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


class MirrorApp:
    """The request handler: route lookup, verified files, the generated bodies."""

    def __init__(
        self,
        bundles: Sequence[Bundle],
        copies: VerifiedCopies,
        bases: Bases,
        images: ImageStore | None = None,
    ) -> None:
        self._bundles = bundles
        self._copies = copies
        self._bases = bases
        # /v2/: the registry API sends its blobs and manifests the same way as every file
        self._registry = RegistryApi(images, self.send_verified) if images is not None else None
        self._tables: OrderedDict[str, RouteTable] = OrderedDict()

    def table(self, base: str) -> RouteTable:
        """The route table whose links point at `base` (one per base, the least used dropped)."""
        table = self._tables.get(base)
        if table is None:
            if len(self._tables) >= MAX_TABLES:
                self._tables.popitem(last=False)
            table = self._tables[base] = build_routes(self._bundles, base)
        self._tables.move_to_end(base)
        return table

    async def handle(self, request: BaseRequest) -> web.StreamResponse:
        """Answer one request (GET and HEAD; anything else 405)."""
        if isinstance(request.protocol, GuardedHandler):
            request.protocol.request_started()
        registry_path = request.path == "/v2" or request.path.startswith("/v2/")
        if self._registry is not None and registry_path:
            response = await self._registry.handle(request)  # writes: 405 with an OCI error body
            if request.body_exists or request.method not in ("GET", "HEAD"):
                response.force_close()  # an unread body never reaches the next request
            return response
        if request.method not in ("GET", "HEAD"):
            refused = _text(405, f"refused: {request.method} (the mirror answers GET and HEAD)")
            refused.headers["Allow"] = "GET, HEAD"
            refused.force_close()
            return refused
        if request.body_exists:
            refused = _text(400, "refused: a GET or HEAD with a body")
            refused.force_close()
            return refused
        path = route_path(request.raw_path)
        if path is None:
            return _text(400, f"refused: {request.raw_path!r} is not a plain path in the mirror")
        base = self._bases.for_request(request)
        route = self.table(base).routes.get(path)
        if route is None:
            return _text(404, f"not found: {path} is not in the mirror's bundles (see {base}/)")
        if isinstance(route, FileRoute):
            return await self._file(request, path, route)
        if isinstance(route, DigestRoute):
            return await self._digest(request, path, route)
        if isinstance(route, TextRoute):
            return _body(request, route.body, route.content_type)
        if isinstance(route, RedirectRoute):
            return web.Response(status=302, headers={"Location": f"{base}{route.target}"})
        return self._releases(request, route, f"{base}{path}")

    async def _file(self, request: BaseRequest, path: str, route: FileRoute) -> web.StreamResponse:
        content_type = (
            "text/plain" if route.relative.endswith(".txt") else "application/octet-stream"
        )
        return await self.send_verified(request, route, content_type, path)

    async def send_verified(
        self, request: BaseRequest, route: FileRoute, content_type: str, path: str = ""
    ) -> web.StreamResponse:
        """A bundle file from its private verified copy (Range, conditionals); 503 when it
        fails verification."""
        served = await self._copies.open(route)
        if isinstance(served, KubeferryError):
            return _refused(path or request.path, served)
        return file_response(request, served, content_type)

    async def _digest(
        self, request: BaseRequest, path: str, route: DigestRoute
    ) -> web.StreamResponse:
        if route.algorithm == "sha256":
            return _body(request, route.source.sha256.encode(), "text/plain")
        served = await self._copies.open(route.source)
        if isinstance(served, KubeferryError):
            return _refused(path, served)
        digest = served.digests[route.algorithm]
        served.release()
        return _body(request, digest.encode(), "text/plain")

    def _releases(self, request: BaseRequest, route: ReleasesRoute, url: str) -> web.Response:
        page, per_page = documents.page_numbers(request.query)
        body, link = documents.releases_page(route.releases, url, page, per_page)
        response = _body(request, body, "application/json")
        if link:
            response.headers["Link"] = link
        return response


def _refused(path: str, error: KubeferryError) -> web.Response:
    return _text(
        503,
        f"refused: {path} is not served: {client_reason(error)}. The mirror's log says more.",
    )


def _body(request: BaseRequest, body: bytes, content_type: str) -> web.Response:
    """A generated body with a strong ETag, answering If-None-Match with 304."""
    etag = hashlib.sha256(body).hexdigest()[:32]
    if request.if_none_match and any(item.value == etag for item in request.if_none_match):
        return web.Response(status=304, headers={"ETag": f'"{etag}"'})
    response = web.Response(body=body, content_type=content_type.split(";")[0])
    response.headers["ETag"] = f'"{etag}"'
    return response


class AccessLog(AbstractAccessLogger):
    """One line per answer: `remote [time] "request line" status body-bytes "agent" seconds`.

    Body bytes are the bytes really handed to the connection (a cut download counts what left).
    """

    def log(self, request: BaseRequest, response: web.StreamResponse, time_taken: float) -> None:
        """Write the line."""
        sent = getattr(response, "bytes_sent", None)
        if sent is None:
            body = getattr(response, "body", None)
            quiet = request.method == "HEAD" or response.status in (204, 304)
            sent = len(body) if isinstance(body, bytes) and not quiet else 0
        version = request.version
        line = f"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}"
        agent = request.headers.get("User-Agent", "-")
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        self.logger.info(
            '%s [%s] "%s" %d %d "%s" %.6fs',
            request.remote,
            stamp,
            _printable(line),
            response.status,
            sent,
            _printable(agent),
            time_taken,
        )


def _printable(text: str) -> str:
    """`text` with control characters escaped: one request is one log line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:2000])
