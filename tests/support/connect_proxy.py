"""A small HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opens.

Every host name it is asked for is reached on 127.0.0.1 (the test API server; an IP address is
reached as given, inside a test's own network namespace), so a kubeconfig
may name `kube.example.test`: only a client that really goes through the proxy can reach it.
It records each CONNECT target and Proxy-Authorization header; other methods get a 405.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from socketserver import StreamRequestHandler, ThreadingTCPServer


@dataclass
class ProxyState:
    tunnels: int = 0
    targets: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def relay(client: socket.socket, upstream: socket.socket) -> None:
    """Bytes both ways until either side closes; then the upstream connection is closed."""
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join(timeout=30)
    upstream.close()


class _Handler(StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline(65537).decode("latin-1").strip()
        headers: dict[str, str] = {}
        while (line := self.rfile.readline(65537).decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, _, rest = request_line.partition(" ")
        target = rest.rpartition(" ")[0]
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port_text = target.rpartition(":")
        address = host if host.replace(".", "").isdigit() else "127.0.0.1"
        try:
            upstream = socket.create_connection((address, int(port_text)), timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        state = self.server.state
        with state.lock:
            state.tunnels += 1
            state.targets.append(target)
            state.authorizations.append(headers.get("proxy-authorization"))
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        relay(self.connection, upstream)


class _Server(ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: ProxyState


class ConnectProxy:
    """`with ConnectProxy() as proxy:` `proxy.url`, `proxy.state.tunnels`.

    With `tls` (a server SSLContext) it is an https:// proxy: TLS to the proxy, then CONNECT.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.state = ProxyState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
