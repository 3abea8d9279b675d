"""`GET <server>/version` the way kubectl would reach it (cold path).

Supports the CA as file or data, `insecure-skip-tls-verify`, `tls-server-name`, client
certificates as files or data, tokens and token files, basic auth, exec credential plugins
(`credentials.py`), proxies (`connect.py`) and Go-like certificate checks (`tls.py`). The whole
probe (connect, proxy, TLS, request) shares one deadline: kuberlr's `Timeout`.

A failure is a ProbeError whose `kind` says why: `unreachable` (refused, timed out: a cluster
that is off), or `tls`, `auth` (also a failed token file or exec plugin), `proxy`, `config`,
`answer`: those are worth one line on stderr, because kubectl would probably fail the same way.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from kubeferry.shim.connect import ProxyError, open_proxy, proxy_for, proxy_request_headers, tunnel
from kubeferry.shim.credentials import CredentialError, credentials
from kubeferry.shim.kubeconfig import ClusterAccess
from kubeferry.shim.tls import EncryptedKeyError, client_context, wrap

NOTEWORTHY = frozenset({"tls", "auth", "proxy", "config", "answer"})


class ProbeError(Exception):
    """The server's version could not be read; `kind` is why (see the module docstring)."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


def _request(sock: socket.socket, host: str, target: str, headers: list[tuple[str, str]]) -> bytes:
    """One HTTP/1.1 GET with `Connection: close`; the raw response (http.client costs 35 ms)."""
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: kubeferry-kubectl",
        "Connection: close",
        *[f"{k}: {v}" for k, v in headers],
        "",
        "",
    ]
    sock.sendall("\r\n".join(lines).encode("latin-1"))
    chunks = []
    received = 0
    while received < 2_000_000 and (chunk := sock.recv(65536)):
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def _parse_response(raw: bytes, server: str) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProbeError(f"{server} did not answer HTTP", "answer")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif headers.get("content-length", "").isdigit():
        body = body[: int(headers["content-length"])]
    return int(parts[1]), body


def _dechunk(body: bytes) -> bytes:
    out = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def go_duration(seconds: float) -> str:
    """Go's Duration.String for the `timeout` query parameter (32s, 1m30s, 500ms)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole, fraction = int(seconds), seconds - int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs + fraction:g}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def _connect(
    access: ClusterAccess,
    environ: Mapping[str, str],
    cert: tuple[bytes, bytes] | None,
    deadline: float,
) -> tuple[socket.socket, str | None]:
    """A socket to the server (through its proxy, if any) and the proxy for an http request."""
    parts = urlsplit(access.server)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    proxy = proxy_for(access.server, access.proxy_url, environ)
    if proxy is None:
        return socket.create_connection((host, port), timeout=_remaining(deadline)), None
    wrapper = None
    if proxy.startswith("https:"):  # Go reaches an https proxy with the cluster's TLS settings
        context = _context_or_error(access, cert, environ)
        name = access.tls_server_name or urlsplit(proxy).hostname or ""

        def to_proxy(sock: socket.socket) -> socket.socket:
            return context.wrap_socket(sock, server_hostname=name)

        wrapper = to_proxy
    if https or proxy.startswith("socks5"):
        return tunnel(proxy, host, port, _remaining(deadline), wrapper), None
    return open_proxy(proxy, _remaining(deadline), wrapper), proxy


def _context_or_error(
    access: ClusterAccess, cert: tuple[bytes, bytes] | None, environ: Mapping[str, str]
) -> ssl.SSLContext:
    try:
        return _tls_context(access, cert, environ)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ProbeError(f"TLS settings of {access.server}: {exc}", "tls") from exc


def _exchange(
    access: ClusterAccess,
    environ: Mapping[str, str],
    headers: list[tuple[str, str]],
    cert: tuple[bytes, bytes] | None,
    deadline: float,
) -> bytes:
    parts = urlsplit(access.server)
    wait = access.request_timeout or 32.0  # kubectl's discovery default
    path = f"{parts.path.rstrip('/')}/version?timeout={go_duration(wait)}"
    sock, http_proxy = _connect(access, environ, cert, deadline)
    if http_proxy is not None:
        path = f"http://{parts.netloc}{path}"
        extra = [h.partition(": ") for h in proxy_request_headers(http_proxy)]
        headers = [*headers, *((name, value) for name, _, value in extra)]
    with sock:
        sock.settimeout(_remaining(deadline))
        if parts.scheme == "https":
            context = _context_or_error(access, cert, environ)
            host = access.tls_server_name or parts.hostname or ""
            sock = wrap(context, sock, host)
        sock.settimeout(_remaining(deadline))
        return _request(sock, parts.netloc, path, headers)


def _tls_context(
    access: ClusterAccess, cert: tuple[bytes, bytes] | None, environ: Mapping[str, str]
) -> ssl.SSLContext:
    return client_context(access, cert, environ)


def server_version(access: ClusterAccess, environ: Mapping[str, str], timeout: float) -> str:
    """The server's gitVersion (`v1.30.6+k3s1`); ProbeError when it cannot be had."""
    parts = urlsplit(access.server)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProbeError(f"server {access.server!r} is not an http(s) URL", "config")
    try:
        headers, cert = credentials(access, environ, timeout)
    except CredentialError as exc:
        raise ProbeError(str(exc), "auth") from exc
    headers.append(("Accept", "application/json"))
    if access.request_timeout:  # --request-timeout shortens the probe as it shortens kubectl
        timeout = min(timeout, access.request_timeout)
    deadline = time.monotonic() + timeout
    try:
        raw = _exchange(access, environ, headers, cert, deadline)
    except ProxyError as exc:
        raise ProbeError(str(exc), "proxy") from exc
    except EncryptedKeyError as exc:
        raise ProbeError(str(exc), "auth") from exc
    except ssl.SSLCertVerificationError as exc:
        why = exc.verify_message or str(exc)
        raise ProbeError(
            f"{access.server}: TLS certificate verification failed ({why})", "tls"
        ) from exc
    except ssl.SSLError as exc:
        raise ProbeError(f"{access.server}: TLS failed ({exc})", "tls") from exc
    except (OSError, ValueError) as exc:
        raise ProbeError(f"{access.server}: {exc or type(exc).__name__}") from exc
    status, body = _parse_response(raw, access.server)
    if status in (401, 403):
        raise ProbeError(f"{access.server}/version answered HTTP {status} (credentials)", "auth")
    if status != 200:
        raise ProbeError(f"{access.server}/version answered HTTP {status}", "answer")
    try:
        git_version = json.loads(body)["gitVersion"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProbeError(f"{access.server}/version answered no gitVersion", "answer") from exc
    return str(git_version)
