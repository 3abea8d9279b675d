"""A small SOCKS5 proxy on 127.0.0.1 that records what it was asked to reach (RFC 1928/1929).

Names are resolved to 127.0.0.1 (the test API server), so a kubeconfig may name
`kube.example.test`: only a client that really goes through the proxy can reach it. An IP
address is reached as given (inside a test's own network namespace). With `credentials` it
requires username/password authentication and records the user it was given.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from socketserver import StreamRequestHandler, ThreadingTCPServer

from tests.support.connect_proxy import relay


@dataclass
class SocksState:
    targets: list[str] = field(default_factory=list)
    users: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(StreamRequestHandler):
    server: _Server

    def _read(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) != size:
            raise ConnectionError("short SOCKS5 message")
        return data

    def _authenticate(self) -> str | bool | None:
        _, count = self._read(2)
        methods = self._read(count)
        wanted = 2 if self.server.credentials else 0
        if wanted not in methods:
            self.wfile.write(b"\x05\xff")
            return False
        self.wfile.write(bytes([5, wanted]))
        if not wanted:
            return None
        _, size = self._read(2)
        user = self._read(size).decode()
        (size,) = self._read(1)
        password = self._read(size).decode()
        good = (user, password) == self.server.credentials
        self.wfile.write(b"\x01\x00" if good else b"\x01\x01")
        return user if good else False

    def _target(self) -> tuple[str, str, int]:
        _, _command, _, atype = self._read(4)
        if atype == 1:
            host = socket.inet_ntop(socket.AF_INET, self._read(4))
        elif atype == 4:
            host = socket.inet_ntop(socket.AF_INET6, self._read(16))
        else:
            (size,) = self._read(1)
            host = self._read(size).decode()
        (port,) = struct.unpack("!H", self._read(2))
        address = host if atype in (1, 4) else "127.0.0.1"
        return host, address, port

    def handle(self) -> None:
        user = self._authenticate()
        if user is False:
            return
        host, address, port = self._target()
        try:
            upstream = socket.create_connection((address, port), timeout=10)
        except OSError:
            self.wfile.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        state = self.server.state
        with state.lock:
            state.targets.append(f"{host}:{port}")
            state.users.append(user if isinstance(user, str) else None)
        self.wfile.write(b"\x05\x00\x00\x01" + bytes(6))
        self.wfile.flush()
        relay(self.connection, upstream)


class _Server(ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: SocksState
    credentials: tuple[str, str] | None


class SocksProxy:
    """`with SocksProxy() as proxy:` `proxy.url` (socks5://), `proxy.state.targets`."""

    def __init__(self, credentials: tuple[str, str] | None = None, host: str = "127.0.0.1") -> None:
        self.state = SocksState()
        self._server = _Server((host, 0), _Handler)
        self._server.state = self.state
        self._server.credentials = credentials
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def credentials(self, pair: tuple[str, str] | None) -> None:
        """Require this user name and password from now on (None: no login)."""
        self._server.credentials = pair

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"socks5://{host}:{port}"

    def __enter__(self) -> SocksProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
