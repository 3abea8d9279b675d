"""A real HTTP server on 127.0.0.1 that speaks the upstream formats kubeferry reads.

- `/v1-release/channels`: the update.k3s.io channel collection;
- `/repos/k3s-io/k3s/releases?per_page=N&page=K`: GitHub's paged releases list with `Link`
  headers, and optionally rate-limit 403s first;
- `/k3s/<tag>/<asset>`: k3s release downloads;
- `/raw/k3s-io/k3s/<tag>/install.sh`: k3s's install script at a tag (a stand-in, put there by
  `tests.support.k3s.serve_release`);
- `/dl/release/...`: a dl.k8s.io-like kubectl mirror (`stable-1.N.txt`, binaries, `.sha256`).

Files are served with Range support, and each path can be told to misbehave: ignore Range,
drop the connection after N bytes, flip a byte, answer 503 a number of times (with a
`Retry-After`), 404, trickle (N bytes every S seconds), or redirect elsewhere. With a `Pki` the
server speaks TLS (https), so an https -> http redirect can be tried.
The server counts the body bytes it sent per path, so tests can prove what was fetched twice.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from tests.support.apiserver import Pki

CHUNK = 64 * 1024


@dataclass
class Fault:
    """How one path misbehaves."""

    ignore_range: bool = False
    drop_after: int | None = None  # close the connection after this many body bytes
    drop_times: int = 1_000_000  # how many responses drop (then behave)
    flip_byte_at: int | None = None
    fail_status: int | None = None  # e.g. 503
    fail_times: int = 0
    delay_per_chunk: float = 0.0
    status: int | None = None  # always answer this status (404)
    etag: str | None = None
    chunk_size: int | None = None  # with delay_per_chunk: trickle (1024 bytes every 5 s)
    slow_times: int = 1_000_000  # how many responses use chunk_size and delay_per_chunk
    retry_after: str | None = None  # sent with fail_status answers
    redirect_to: str | None = None  # answer 302 with this Location
    hold_headers: float = 0.0  # wait this long before answering at all (a server that hangs)


@dataclass
class UpstreamState:
    """What the server serves and what it has seen."""

    channels: Any = None
    releases: list[Any] = field(default_factory=list)
    per_page_default: int = 30
    rate_limit_first: int = 0
    rate_limit_reset_in: float = 1.0
    releases_status: int | None = None
    releases_body: bytes | None = None
    channels_status: int | None = None
    channels_body: bytes | None = None
    files: dict[str, bytes | Path] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    bytes_sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def state(self) -> UpstreamState:
        return self.server.state

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        with self.state.lock:
            self.state.requests.append((self.command, self.path, dict(self.headers.items())))
        if parts.path == "/v1-release/channels":
            return self._channels()
        if parts.path == "/repos/k3s-io/k3s/releases":
            return self._releases(parse_qs(parts.query))
        return self._file(parts.path)

    def _channels(self) -> None:
        state = self.state
        body = state.channels_body or json.dumps(state.channels).encode()
        self._send(state.channels_status or 200, body, {"Content-Type": "application/json"})

    def _releases(self, query: dict[str, list[str]]) -> None:
        state = self.state
        with state.lock:
            limited = state.rate_limit_first > 0
            if limited:
                state.rate_limit_first -= 1
        if limited:
            reset = int(time.time() + state.rate_limit_reset_in)
            body = b'{"message": "API rate limit exceeded"}'
            headers = {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
                "Content-Type": "application/json",
            }
            return self._send(403, body, headers)
        if state.releases_status or state.releases_body:
            return self._send(
                state.releases_status or 200,
                state.releases_body or b"",
                {"Content-Type": "text/html"},
            )
        per_page = int(query.get("per_page", [state.per_page_default])[0])
        page = int(query.get("page", ["1"])[0])
        start = (page - 1) * per_page
        items = state.releases[start : start + per_page]
        headers = {"Content-Type": "application/json"}
        if start + per_page < len(state.releases):
            base = f"http://{self.headers['Host']}/repos/k3s-io/k3s/releases"
            last = (len(state.releases) + per_page - 1) // per_page
            headers["Link"] = (
                f'<{base}?per_page={per_page}&page={page + 1}>; rel="next", '
                f'<{base}?per_page={per_page}&page={last}>; rel="last"'
            )
        self._send(200, json.dumps(items).encode(), headers)

    def _file(self, path: str) -> None:
        state = self.state
        fault = state.faults.get(path, Fault())
        content = state.files.get(path)
        if fault.hold_headers:
            time.sleep(fault.hold_headers)
        if fault.redirect_to:
            return self._send(302, b"", {"Location": fault.redirect_to})
        if fault.status or content is None:
            return self._send(fault.status or 404, b"Not Found", {"Content-Type": "text/plain"})
        with state.lock:
            failing = fault.fail_times > 0
            if failing:
                fault.fail_times -= 1
        if failing:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self._send(fault.fail_status or 503, b"Service Unavailable", extra)
        size = content.stat().st_size if isinstance(content, Path) else len(content)
        etag = fault.etag or f'"{size}"'
        start, status = 0, 200
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if range_header and not fault.ignore_range and (if_range is None or if_range == etag):
            start = int(range_header.split("=", 1)[1].split("-", 1)[0])
            status = 206
        if start >= size and status == 206:
            return self._send(416, b"", {"Content-Range": f"bytes */{size}"})
        self.send_response(status)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return None
        dropping = fault.drop_after is not None and fault.drop_times > 0
        with state.lock:
            if dropping:
                fault.drop_times -= 1
            slow = fault.slow_times > 0
            fault.slow_times -= 1
        if not slow:
            fault = Fault(flip_byte_at=fault.flip_byte_at, drop_after=fault.drop_after)
        self._stream(path, content, start, size, fault, dropping)
        return None

    def _stream(
        self, path: str, content: bytes | Path, start: int, size: int, fault: Fault, dropping: bool
    ) -> None:
        sent = 0
        limit = fault.drop_after if dropping else None
        handle = content.open("rb") if isinstance(content, Path) else None
        try:
            if handle:
                handle.seek(start)
            offset = start
            while offset < size:
                length = min(fault.chunk_size or CHUNK, size - offset)
                if limit is not None:
                    length = min(length, limit - sent)
                    if length <= 0:
                        break
                chunk = handle.read(length) if handle else content[offset : offset + length]
                if (
                    fault.flip_byte_at is not None
                    and offset <= fault.flip_byte_at < offset + length
                ):
                    index = fault.flip_byte_at - offset
                    chunk = chunk[:index] + bytes([chunk[index] ^ 0xFF]) + chunk[index + 1 :]
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
                offset += len(chunk)
                with self.state.lock:
                    self.state.bytes_sent[path] += len(chunk)
                if fault.delay_per_chunk:
                    time.sleep(fault.delay_per_chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        finally:
            if handle:
                handle.close()
        if limit is not None and sent >= limit:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: UpstreamState


class LocalUpstream:
    """Start with `with LocalUpstream() as up:`; `up.url` is the base address."""

    def __init__(self, state: UpstreamState | None = None, *, tls: Pki | None = None) -> None:
        self.state = state or UpstreamState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._scheme = "https" if tls else "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.folder / "server.crt", tls.folder / "server.key")
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def environ(self) -> dict[str, str]:
        """The KUBEFERRY_* variables that point kubeferry at this server."""
        return {
            "KUBEFERRY_K3S_CHANNELS_URL": f"{self.url}/v1-release/channels",
            "KUBEFERRY_K3S_RELEASES_URL": f"{self.url}/repos/k3s-io/k3s/releases",
            "KUBEFERRY_K3S_DOWNLOAD_URL": f"{self.url}/k3s",
            "KUBEFERRY_K3S_INSTALL_SCRIPT_URL": f"{self.url}/raw/k3s-io/k3s",
            "KUBEFERRY_KUBECTL_MIRROR_URL": f"{self.url}/dl",
        }

    def __enter__(self) -> LocalUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
