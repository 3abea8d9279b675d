"""The read side of the OCI Distribution API under `/v2/`, for containerd, k3s, skopeo, Docker.

    GET /v2/                                  {} with Docker-Distribution-API-Version
    GET|HEAD /v2/<name>/manifests/<ref>  the stored bytes, Content-Type, Docker-Content-Digest
    GET|HEAD /v2/<name>/blobs/<digest>        the verified file (Range, sendfile: as bundle files)
    GET /v2/<name>/tags/list                  {"name": ..., "tags": [...]}
    anything else under /v2/                  405 (push) or 404, with an OCI error body

`?ns=<registry host>` (containerd's mirror requests) picks the registry; `<name>` may also start
with the registry host. Blobs and manifests kept in files go through the server's own file
sending (`send_file`), so they are hashed before their first use and again when they change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from kubeferry.mirror.image_store import Ambiguous, Content, ImageStore, Repository
from kubeferry.mirror.routes import FileRoute

API_VERSION: Final = {"Docker-Distribution-API-Version": "registry/2.0"}
_NAME: Final = r"(?P<name>[A-Za-z0-9._:\-\[\]]+(?:/[a-z0-9._\-]+)*)"
_OBJECT: Final = re.compile(rf"^/v2/{_NAME}/(?P<kind>manifests|blobs)/(?P<ref>[A-Za-z0-9_.:\-]+)$")
_TAGS: Final = re.compile(rf"^/v2/{_NAME}/tags/list$")
_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
SendFile = Callable[[web.BaseRequest, FileRoute, str], Awaitable[web.StreamResponse]]


def error(status: int, code: str, message: str, detail: object = None) -> web.Response:
    """An OCI error body: `{"errors": [{"code", "message", "detail"}]}`."""
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return web.Response(
        status=status,
        body=json.dumps(body).encode() + b"\n",
        content_type="application/json",
        headers=API_VERSION,
    )


class RegistryApi:
    """Answers `/v2/` requests from an ImageStore."""

    def __init__(self, store: ImageStore, send_file: SendFile) -> None:
        self._store = store
        self._send_file = send_file

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """One request under `/v2/`."""
        if request.method not in ("GET", "HEAD"):
            return error(
                405,
                "UNSUPPORTED",
                "this kubeferry mirror is read-only: push into a registry with "
                "'kubeferry images push', or put images into a bundle with "
                "'kubeferry bundle create --image'",
            )
        path = request.path
        if path in ("/v2", "/v2/"):
            return web.Response(body=b"{}", content_type="application/json", headers=API_VERSION)
        tags = _TAGS.match(path)
        found = tags or _OBJECT.match(path)
        if found is None:
            return error(
                404, "NAME_UNKNOWN", f"{path} is not a registry API path this mirror knows"
            )
        try:
            repository = self._store.find(found["name"], request.query.get("ns"))
        except Ambiguous as exc:
            return error(404, "NAME_UNKNOWN", exc.message)
        if repository is None:
            return error(404, "NAME_UNKNOWN", f"{found['name']} is not in the mirror's bundles")
        if tags:
            listing = {"name": found["name"], "tags": sorted(repository.tags)}
            return web.json_response(listing, headers=API_VERSION)
        if found["kind"] == "manifests":
            return await self._manifest(request, repository, found["ref"])
        return await self._blob(request, repository, found["ref"])

    async def _manifest(
        self, request: web.BaseRequest, repository: Repository, reference: str
    ) -> web.StreamResponse:
        digest = reference if _DIGEST.match(reference) else repository.tags.get(reference)
        content = self._store.manifests.get(digest or "")
        if content is None or content.digest not in repository.digests:
            return error(
                404,
                "MANIFEST_UNKNOWN",
                f"{repository.registry}/{repository.name}:{reference} "
                "is not in the mirror's bundles",
            )
        return await self._send(request, content)

    async def _blob(
        self, request: web.BaseRequest, repository: Repository, digest: str
    ) -> web.StreamResponse:
        content = self._store.blobs.get(digest)
        if content is None or digest not in repository.digests:
            return error(404, "BLOB_UNKNOWN", f"{digest} is not a blob of {repository.name}")
        return await self._send(request, content, "application/octet-stream")

    async def _send(
        self, request: web.BaseRequest, content: Content, media_type: str = ""
    ) -> web.StreamResponse:
        headers = {**API_VERSION, "Docker-Content-Digest": content.digest}
        kind = media_type or content.media_type or "application/octet-stream"
        if content.body is not None:
            return web.Response(body=content.body, headers={**headers, "Content-Type": kind})
        assert content.route is not None
        response = await self._send_file(request, content.route, kind)
        if response.status >= 400:
            return response  # refused (503: the verification failed) or a Range it cannot serve
        response.headers.update(headers)
        return response
