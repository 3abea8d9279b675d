"""The one place that opens sockets: clients, timeouts, proxies, errors.

httpx honours HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY from the environment, follows
redirects (GitHub downloads redirect to object storage) and sends a kubeferry User-Agent.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import httpx  # kubeferry/__init__.py has kept httpx's own command line from loading

from kubeferry import __version__
from kubeferry.errors import NotFoundError, OfflineError, UpstreamError
from kubeferry.files.textfiles import parse_json
from kubeferry.jobs.cancel import CancelToken
from kubeferry.transport import body_speed
from kubeferry.transport.policy import TransferPolicy

body_speed.install()  # 1 MiB socket reads; body bytes handed on without copies

CONNECT_TIMEOUT: Final = 10.0
READ_TIMEOUT: Final = 30.0
USER_AGENT: Final = f"kubeferry/{__version__}"
DOCUMENT_LIMIT: Final = 64 * 1024 * 1024
ERROR_BODY_LIMIT: Final = 64 * 1024
"""`get` reads at most this much (a GitHub releases page is a few megabytes)."""


def tls_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """Certificates from SSL_CERT_FILE / SSL_CERT_DIR when set (a company CA), else the operating
    system's trust store (`truststore`), else certifi's bundle.

    Verified as Go verifies (kubectl, kuberlr): Python 3.13's strict X.509 checks are cleared,
    hostname checks stay. Built here rather than by httpx: its own default costs every command
    about 100 ms.
    """
    env = os.environ if environ is None else environ
    cafile, capath = env.get("SSL_CERT_FILE") or None, env.get("SSL_CERT_DIR") or None
    if cafile is not None or capath is not None:
        context = ssl.create_default_context(cafile=cafile, capath=capath)
    else:
        try:
            import truststore

            context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        except ImportError:
            import certifi

            context = ssl.create_default_context(cafile=certifi.where())
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    context.verify_flags = context.verify_flags & ~strict
    return context


class TrustOnFirstUse(ssl.SSLContext):
    """The clients' TLS context: its certificates load when the first https connection needs them.

    Building the real context (`tls_context`: importing truststore, or parsing SSL_CERT_FILE)
    costs 20-40 ms that a download from an http:// mirror never needs. httpcore only calls
    `set_alpn_protocols`, `wrap_socket` and `wrap_bio` on it; each is handed to the real context,
    built once from the environment as it was when the client was opened.
    """

    def __new__(cls, environ: Mapping[str, str] | None = None) -> TrustOnFirstUse:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._environ = {
            name: env[name] for name in ("SSL_CERT_FILE", "SSL_CERT_DIR") if name in env
        }
        self._real: ssl.SSLContext | None = None
        self._alpn: list[str] | None = None
        self._building = threading.Lock()

    def real(self) -> ssl.SSLContext:
        """The context that verifies (built on first call)."""
        with self._building:
            if self._real is None:
                self._real = tls_context(self._environ)
            return self._real

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        self._alpn = list(alpn_protocols)

    def _ready(self) -> ssl.SSLContext:
        real = self.real()
        if self._alpn is not None:
            real.set_alpn_protocols(self._alpn)
        return real

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        return self._ready().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        return self._ready().wrap_bio(*args, **kwargs)


def refuse_downgrade(response: httpx.Response) -> None:
    """A redirect from https to http would carry the download in clear text: refuse it.

    A base URL configured as http is the user's choice and stays allowed (http to http).
    """
    if not response.has_redirect_location or response.request.url.scheme != "https":
        return
    source = str(response.request.url)
    target = response.request.url.join(response.headers["Location"])
    if target.scheme == "http":
        response.close()
        raise UpstreamError(
            f"{source} redirected to {target}, from https to plain http; kubeferry does not "
            "follow that (the bytes could be changed on the way). Fix the mirror or proxy, or "
            "configure an http base URL explicitly if that is really meant.",
            url=source,
            actual=str(target),
        )


def bound_other_bodies(response: httpx.Response) -> None:
    """Read the body of a redirect or error answer here, at most ERROR_BODY_LIMIT bytes.

    httpx reads the whole body of a redirect it follows and of a 401 an auth flow answers,
    however large: a hostile server could fill memory that way. Read here first (the first
    bytes are all an error message shows) and hand httpx what was read (`_content`, the
    attribute `Response.read` returns when set); the rest is never read. 2xx bodies are read by
    their callers, bounded (`transport/documents.py`).
    """
    if response.status_code < 300:
        return
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > ERROR_BODY_LIMIT:
            response.close()  # the connection goes with the rest of the body
            break
    response._content = bytes(body[:ERROR_BODY_LIMIT])


def open_client(
    *,
    read_timeout: float = READ_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    policy: TransferPolicy | None = None,
    cancel: CancelToken | None = None,
    fresh: bool = False,
) -> httpx.Client:
    """A client with timeouts on connect and read, proxies from the environment, redirects on
    (never from https to http); `policy` bounds its downloads (`policy.client_policy`), `cancel`
    is the token of the job it works for (`cancel_of`).

    `fresh`: one connection per request, so a watch knows each request's socket from the start
    (`transport/documents.py`), and redirect and error bodies read at most ERROR_BODY_LIMIT.
    """
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    client = httpx.Client(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=0 if fresh else 20),
        timeout=timeout,
        follow_redirects=True,
        trust_env=True,
        verify=TrustOnFirstUse(),  # certificates load on the first https connection
        headers={"User-Agent": USER_AGENT},
        event_hooks={"response": [refuse_downgrade, *([bound_other_bodies] if fresh else [])]},
    )
    client.transfer_policy = policy or TransferPolicy()  # type: ignore[attr-defined]
    client.cancel_token = cancel or CancelToken()  # type: ignore[attr-defined]
    return client


def cancel_of(client: httpx.Client) -> CancelToken:
    """The token `open_client` was given (a client opened elsewhere: one nothing cancels)."""
    found = getattr(client, "cancel_token", None)
    return found if isinstance(found, CancelToken) else CancelToken()


def ensure_online(offline: bool, url: str) -> None:
    """Refuse to touch `url` in offline mode."""
    if offline:
        raise OfflineError(
            f"offline mode is on (--offline or KUBEFERRY_OFFLINE=1), so {url} was not "
            "contacted. Run this on a connected machine, or unset KUBEFERRY_OFFLINE.",
            url=url,
        )


def same_host(url: str, other: str) -> bool:
    """True when both URLs name the same scheme, host and port."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def transport_error(exc: httpx.HTTPError, url: str) -> UpstreamError:
    """A person-readable error for a connection that failed or timed out."""
    if isinstance(exc, httpx.TimeoutException):
        what = "timed out"
    elif isinstance(exc, httpx.ConnectError):
        what = "could not be reached"
    else:
        what = "failed"
    return UpstreamError(
        f"{url} {what} ({type(exc).__name__}: {exc}). Check the network and proxy "
        "settings (HTTPS_PROXY, NO_PROXY), or point kubeferry at a mirror.",
        url=url,
    )


def describe_body(body: bytes) -> str:
    """A short, printable sample of an unexpected response body."""
    text = body[:120].decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text or "(empty body)"


def status_error(response: httpx.Response, hint: str) -> UpstreamError:
    """An error for a non-success status, naming the URL and a sample of the body."""
    url = str(response.request.url)
    return UpstreamError(
        f"{url} answered HTTP {response.status_code} {response.reason_phrase}: "
        f"{describe_body(response.content)}. {hint}",
        url=url,
        actual=str(response.status_code),
    )


def decode_json(response: httpx.Response, hint: str) -> Any:
    """The JSON body of `response`, nested at most MAX_JSON_DEPTH deep (checked before parsing);
    an HTML or otherwise non-JSON body is an UpstreamError."""
    url = str(response.request.url)
    try:
        return parse_json(response.content, source=url, fix=hint, error=UpstreamError)
    except UpstreamError as exc:
        if not isinstance(exc.__cause__, json.JSONDecodeError | UnicodeDecodeError):
            raise
        kind = response.headers.get("Content-Type", "unknown type")
        raise UpstreamError(
            f"{url} did not answer JSON (Content-Type {kind}; body starts "
            f"{describe_body(response.content)!r}). {hint}",
            url=url,
        ) from exc


def get(
    client: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    limit: int = DOCUMENT_LIMIT,
) -> httpx.Response:
    """GET `url` into memory (small documents only: at most `limit` bytes, read no further),
    translating transport errors."""
    try:
        with client.stream("GET", url, headers=dict(headers or {})) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise UpstreamError(
                        f"{url} answered more than {limit} bytes (cut off there); kubeferry "
                        "reads no more for one document, so nothing of it was used. Check the "
                        "address or the mirror.",
                        url=url,
                    )
            kept = [
                (name, value)
                for name, value in response.headers.multi_items()
                if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ]
            return httpx.Response(
                response.status_code, headers=kept, content=bytes(body), request=response.request
            )
    except httpx.HTTPError as exc:
        raise transport_error(exc, url) from exc


def head_size(client: httpx.Client, url: str) -> int | None:
    """The size of `url` from a HEAD request (None when the server does not say)."""
    try:
        response = client.head(url)
    except httpx.HTTPError as exc:
        raise transport_error(exc, url) from exc
    if response.status_code == 404:
        raise NotFoundError(
            f"{url} answered 404 Not Found. Check the version and the mirror.", url=url
        )
    if response.status_code >= 400:
        raise status_error(response, "Check the mirror address; nothing was downloaded.")
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None
