"""A small OCI distribution client: ping, blobs (exists, mount, upload, fetch), manifests.

Uploads stream from a file or an iterator and are never held in memory: one `POST` opens the
upload and one `PUT ...?digest=` carries the bytes (monolithic), or `PATCH`es carry fixed-size
chunks first. Blob fetches reuse the download engine: a `.part` file beside the destination,
`Range` resume, sha256 checked while streaming, the final name only after the digest matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final
from urllib.parse import urljoin

import httpx

from kubeferry.core.oci_media import MANIFEST_LIMIT, MANIFEST_TYPES, OCI_INDEX
from kubeferry.download.engine import DownloadJob, DownloadResult, download
from kubeferry.errors import RegistryAuthError, RegistryError
from kubeferry.files.textfiles import parse_json
from kubeferry.jobs.cancel import CancelToken
from kubeferry.jobs.progress import Progress
from kubeferry.oci.auth import Credentials, RegistryAuth, login_hint
from kubeferry.transport import http
from kubeferry.transport.documents import Document, fetch_document
from kubeferry.transport.policy import TransferPolicy

PIECE: Final = 1024 * 1024
UPLOAD_READ_TIMEOUT: Final = 300.0  # the registry may hash a large blob before it answers
PING_LIMIT: Final = 1024 * 1024


@dataclass(frozen=True)
class BlobSource:
    """Bytes to upload: a file (or a slice of one), or an iterator read once."""

    digest: str
    size: int
    path: Path | None = None
    offset: int = 0
    chunks: Iterable[bytes] | None = None

    def stream(
        self, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> Iterator[bytes]:
        """The bytes, piece by piece, reporting progress as they go; a cancel of `cancel` stops
        them (TransferCancelled) before the next piece."""
        done = 0
        for piece in self._pieces():
            if cancel is not None:
                cancel.check()
            done += len(piece)
            if progress:
                progress(done, self.size)
            yield piece

    def _pieces(self) -> Iterator[bytes]:
        if self.chunks is not None:
            yield from self.chunks
            return
        assert self.path is not None
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            yield from _read_exactly(stream, self.size)


def _read_exactly(stream: BinaryIO, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        piece = stream.read(min(PIECE, left))
        if not piece:
            break
        left -= len(piece)
        yield piece


class RegistryClient:
    """One registry: `https://HOST` (or `http://` when asked), with its auth. `cancel` is the
    token of the job it works for: blob fetches and uploads stop when it is cancelled."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        plain_http: bool = False,
        policy: TransferPolicy | None = None,
        cancel: CancelToken | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.registry = registry
        self.url = (
            endpoint.rstrip("/")
            if endpoint
            else f"{'http' if plain_http else 'https'}://{registry}"
        )
        self.cancel = cancel or CancelToken()
        # Tokens and manifests: watched from the request on (one connection each); blobs:
        # watched by the download engine; all under the same policy (stall, timeout, retries)
        # and the same cancellation token.
        self._token_client = http.open_client(policy=policy, cancel=self.cancel, fresh=True)
        self.auth = RegistryAuth(self.url, credentials, self._token_client)
        self._document_client = http.open_client(policy=policy, cancel=self.cancel, fresh=True)
        self._document_client.auth = self.auth
        self.client = http.open_client(policy=policy, cancel=self.cancel)
        self.client.auth = self.auth
        self._upload_client = http.open_client(
            read_timeout=UPLOAD_READ_TIMEOUT, policy=policy, cancel=self.cancel
        )
        self._upload_client.auth = self.auth

    def close(self) -> None:
        """Close the connections."""
        clients = (self.client, self._token_client, self._document_client, self._upload_client)
        for client in clients:
            client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, *, upload: bool = False, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        client = self._upload_client if upload else self.client
        try:
            if stream:
                return client.send(client.build_request(method, url, **kwargs), stream=True)
            return client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, url) from exc

    def _transport_error(self, exc: httpx.HTTPError, url: str) -> RegistryError:
        hint = ""
        if isinstance(exc, httpx.ConnectError) and self.url.startswith("https://"):
            hint = " If the registry speaks plain HTTP, pass --plain-http."
        return RegistryError(
            f"the registry {self.url} could not be reached for {url} "
            f"({type(exc).__name__}: {exc}). Check the address, the network and the proxy "
            f"settings (HTTPS_PROXY, NO_PROXY); a company CA goes in SSL_CERT_FILE.{hint}",
            url=url,
        )

    def _document(self, url: str, what: str, limit: int, **kwargs: Any) -> Document:
        """A small answer (a manifest, /v2/): watched, bounded, retried, announced."""

        def failed(url: str, attempts: int, last: str) -> RegistryError:
            return RegistryError(
                f"the registry {self.url} did not answer {what} ({url}) in {attempts} tries "
                f"(last: {last}). Check the network and the registry; nothing was changed.",
                url=url,
            )

        try:
            return fetch_document(
                self._document_client,
                url,
                limit=limit,
                what=what,
                error=RegistryError,
                failed=failed,
                **kwargs,
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, url) from exc

    def failure(self, response: httpx.Response | Document, what: str) -> RegistryError:
        """A RegistryError (or RegistryAuthError) for an unexpected answer to `what`."""
        if isinstance(response, Document):
            url, status, body = response.url, response.status, http.describe_body(response.body)
        else:
            url, status = str(response.request.url), response.status_code
            body = http.describe_body(response.read())
        if status == 401:
            return RegistryAuthError(
                f"the registry {self.url} wants credentials for {what} (HTTP 401: {body}). "
                f"{login_hint(self.registry)}.",
                url=url,
                actual="401",
            )
        if status == 403:
            return RegistryAuthError(
                f"the registry {self.url} denied {what} (HTTP 403: {body}). The account lacks "
                "push or pull rights on that repository: ask the registry's administrator, or "
                "use another account (--username).",
                url=url,
                actual="403",
            )
        return RegistryError(
            f"the registry {self.url} answered HTTP {status} to {what}: {body}. Check the "
            "repository name and the registry's logs; nothing was changed on this side.",
            url=url,
            actual=str(status),
        )

    def _expect(
        self, response: httpx.Response | Document, statuses: tuple[int, ...], what: str
    ) -> None:
        found = response.status if isinstance(response, Document) else response.status_code
        if found not in statuses:
            raise self.failure(response, what)

    # -- API --------------------------------------------------------------------------------

    def ping(self) -> None:
        """`GET /v2/`: the registry answers and these credentials (if any) are accepted."""
        response = self._document(f"{self.url}/v2/", "GET /v2/", PING_LIMIT)
        if response.status == 404:
            raise RegistryError(
                f"{self.url}/v2/ answered 404: this is not an OCI registry (Docker Registry "
                "HTTP API v2). Check the address and port.",
                url=f"{self.url}/v2/",
            )
        self._expect(response, (200,), "GET /v2/")

    def blob_url(self, repository: str, digest: str) -> str:
        """`<registry>/v2/<repository>/blobs/<digest>`."""
        return f"{self.url}/v2/{repository}/blobs/{digest}"

    def blob_exists(self, repository: str, digest: str) -> bool:
        """`HEAD` the blob: True on 200, False on 404."""
        response = self._send("HEAD", self.blob_url(repository, digest))
        if response.status_code == 404:
            return False
        self._expect(response, (200,), f"HEAD {repository} blob {digest}")
        return True

    def _uploads_url(self, repository: str) -> str:
        return f"{self.url}/v2/{repository}/blobs/uploads/"

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Mount `digest` from the `source` repository; False when the registry declines."""
        response = self._send(
            "POST", self._uploads_url(repository), params={"mount": digest, "from": source}
        )
        if response.status_code == 201:
            return True
        self._expect(response, (202,), f"mount of {digest} into {repository}")
        self._cancel(response)
        return False

    def _cancel(self, response: httpx.Response) -> None:
        location = response.headers.get("Location")
        if location:
            self._send("DELETE", urljoin(self.url, location))

    def _start_upload(self, repository: str) -> str:
        response = self._send("POST", self._uploads_url(repository))
        self._expect(response, (202,), f"an upload into {repository}")
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(
                f"the registry {self.url} opened an upload into {repository} without a "
                "Location header. It does not follow the distribution API.",
                url=self._uploads_url(repository),
            )
        return urljoin(self.url, str(location))  # headers are typed Any in httpx

    def upload_blob(
        self,
        repository: str,
        blob: BlobSource,
        *,
        progress: Progress | None = None,
        chunk_size: int | None = None,
    ) -> None:
        """Upload one blob, streamed: monolithic, or PATCHed in `chunk_size` pieces."""
        location = self._start_upload(repository)
        what = f"the upload of {blob.digest} into {repository}"
        headers = {"Content-Type": "application/octet-stream"}
        body: Iterator[bytes] = blob.stream(progress, self.cancel)
        if chunk_size:
            location = self._patch_chunks(location, body, chunk_size, what)
            body, size = iter(()), 0
        else:
            size = blob.size
        headers["Content-Length"] = str(size)
        separator = "&" if "?" in location else "?"
        response = self._send(
            "PUT",
            f"{location}{separator}digest={blob.digest}",
            upload=True,
            headers=headers,
            content=body,
        )
        self._expect(response, (201,), what)

    def _patch_chunks(self, location: str, body: Iterator[bytes], size: int, what: str) -> str:
        offset = 0
        for chunk in _regroup(body, size):
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                "Content-Length": str(len(chunk)),
            }
            response = self._send("PATCH", location, upload=True, headers=headers, content=chunk)
            self._expect(response, (202,), what)
            location = urljoin(self.url, response.headers.get("Location", location))
            offset += len(chunk)
        return location

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """Store a manifest under a tag (or digest); its digest as the registry computed it."""
        response = self._send(
            "PUT",
            f"{self.url}/v2/{repository}/manifests/{reference}",
            headers={"Content-Type": media_type},
            content=body,
        )
        self._expect(response, (201,), f"the manifest {repository}:{reference}")
        return str(response.headers.get("Docker-Content-Digest", ""))

    def get_manifest(
        self, repository: str, reference: str, accept: tuple[str, ...] = MANIFEST_TYPES
    ) -> tuple[str, bytes]:
        """(media type, body) of a manifest; RegistryError when it does not exist."""
        url = f"{self.url}/v2/{repository}/manifests/{reference}"
        what = f"the manifest {repository}:{reference}"
        response = self._document(url, what, MANIFEST_LIMIT, headers={"Accept": ", ".join(accept)})
        if response.status == 404:
            raise RegistryError(
                f"{self.registry}/{repository}:{reference} does not exist in the registry "
                f"{self.url} (404). Check the name and tag, or push it first.",
                url=url,
                actual="404",
            )
        self._expect(response, (200,), f"GET manifest {repository}:{reference}")
        kind = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not kind:
            document = parse_json(
                response.body,
                source=url,
                fix="The registry sent a damaged manifest; nothing was placed.",
                error=RegistryError,
                max_bytes=MANIFEST_LIMIT,
            )
            kind = str(document.get("mediaType", "")) if isinstance(document, dict) else ""
        return kind, response.body

    def get_referrers(self, repository: str, digest: str) -> bytes | None:
        """`GET /v2/<repo>/referrers/<digest>` (the OCI 1.1 referrers API): the index body, or
        None when the registry has no such API (404; CNCF Distribution 2.8 has none)."""
        url = f"{self.url}/v2/{repository}/referrers/{digest}"
        what = f"the referrers of {repository}@{digest}"
        response = self._document(url, what, MANIFEST_LIMIT, headers={"Accept": OCI_INDEX})
        if response.status == 404:
            return None
        self._expect(response, (200,), f"GET referrers of {repository}@{digest}")
        return response.body

    def fetch_blob(
        self,
        repository: str,
        digest: str,
        destination: Path,
        *,
        size: int | None = None,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Stream a blob into `destination` (resumable `.part` beside it; sha256 checked)."""
        if not digest.startswith("sha256:"):
            raise RegistryError(
                f"{digest} uses an algorithm kubeferry does not check (only sha256).",
                url=self.blob_url(repository, digest),
            )
        job = DownloadJob(
            self.blob_url(repository, digest), destination, sha256=digest[7:], size=size
        )
        try:
            return download(
                self.client, job, progress=progress, keep_existing=True, cancel=self.cancel
            )
        except RegistryAuthError:
            raise
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, job.url) from exc


def _regroup(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Pieces of any size regrouped into `size`-byte chunks (the last may be shorter)."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
