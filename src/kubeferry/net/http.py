"""The one place that opens sockets: clients, timeouts, proxies, errors.

httpx honours HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY from the environment, follows
redirects (GitHub downloads redirect to object storage) and sends a kubeferry User-Agent.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

# httpx imports its own command line (click, rich, pygments: ~50 ms) whenever they are
# installed; kubeferry never uses it. Marking the module absent makes httpx skip it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: E402 - must follow the line above

from kubeferry import __version__  # noqa: E402 - after the httpx line above
from kubeferry.errors import NotFoundError, OfflineError, UpstreamError  # noqa: E402
from kubeferry.net.transfer import TransferPolicy  # noqa: E402

SOCKET_READ_SIZE: Final = 1024 * 1024


def _read_in_larger_pieces() -> None:
    """Let httpcore read 1 MiB per socket read instead of 64 KiB.

    Each read costs a trip through h11 and httpcore in Python; at loopback or LAN speeds that is
    what limits a download (benchmarks/RESULTS.md: about 30 % faster). Memory stays flat. The
    attribute is httpcore's own class constant; if a release drops it, nothing changes.
    """
    import httpcore._sync.http11 as http11

    if isinstance(getattr(http11.HTTP11Connection, "READ_NUM_BYTES", None), int):
        http11.HTTP11Connection.READ_NUM_BYTES = SOCKET_READ_SIZE


_read_in_larger_pieces()


def _hand_over_body_without_copies() -> None:
    """Let h11 hand a whole buffered body chunk over instead of copying it twice.

    `ReceiveBuffer.maybe_extract_at_most` slices its buffer once to test for emptiness and once
    more to extract: two copies of every body byte, in the thread that reads the socket
    (profiled: about a fifth of a loopback download's time). When the whole buffer goes out,
    the buffer object itself is handed over and a new one started; the result is the same
    bytearray of at most `count` bytes. If h11 changes these internals, nothing changes here.
    """
    from h11._receivebuffer import ReceiveBuffer

    needed = ("_data", "_next_line_search", "_multiple_lines_search")
    probe = ReceiveBuffer()
    if not all(hasattr(probe, name) for name in needed) or not hasattr(probe, "_extract"):
        return
    extract = ReceiveBuffer._extract

    def maybe_extract_at_most(self: Any, count: int) -> bytearray | None:
        if not self._data:
            return None
        if count >= len(self._data):
            out, self._data = self._data, bytearray()
            self._next_line_search = 0
            self._multiple_lines_search = 0
            return out
        return extract(self, count)  # type: ignore[no-any-return]

    ReceiveBuffer.maybe_extract_at_most = maybe_extract_at_most  # type: ignore[method-assign]


_hand_over_body_without_copies()

CONNECT_TIMEOUT: Final = 10.0
READ_TIMEOUT: Final = 30.0
USER_AGENT: Final = f"kubeferry/{__version__}"


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


def open_client(
    *,
    read_timeout: float = READ_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    policy: TransferPolicy | None = None,
) -> httpx.Client:
    """A client with timeouts on connect and read, proxies from the environment, redirects on
    (never from https to http); `policy` bounds its downloads (`download.client_policy`)."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    client = httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        trust_env=True,
        verify=tls_context(),
        headers={"User-Agent": USER_AGENT},
        event_hooks={"response": [refuse_downgrade]},
    )
    client.transfer_policy = policy or TransferPolicy()  # type: ignore[attr-defined]
    return client


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
    """The JSON body of `response`; an HTML or otherwise non-JSON body is an UpstreamError."""
    url = str(response.request.url)
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = response.headers.get("Content-Type", "unknown type")
        raise UpstreamError(
            f"{url} did not answer JSON (Content-Type {kind}; body starts "
            f"{describe_body(response.content)!r}). {hint}",
            url=url,
        ) from exc


def get(
    client: httpx.Client, url: str, *, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    """GET `url` fully into memory (small documents only), translating transport errors."""
    try:
        return client.get(url, headers=dict(headers or {}))
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
