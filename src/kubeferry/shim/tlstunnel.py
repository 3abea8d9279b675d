"""TLS inside TLS: the server's TLS through an https proxy's tunnel (cold path).

`ssl.SSLSocket` cannot wrap another SSLSocket, so the inner connection is an `ssl.SSLObject`
over memory buffers, moved through the outer socket. Only what the probe uses: sendall, recv,
settimeout, close.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")


class TlsOverTls:
    """A TLS connection carried by another TLS socket."""

    def __init__(self, context: ssl.SSLContext, outer: ssl.SSLSocket, name: str) -> None:
        self._outer = outer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=name)
        self._run(self._tls.do_handshake)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._outer.sendall(data)

    def _run(self, operation: Callable[..., Result], *args: Any) -> Result:
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self._outer.recv(65536)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            self._flush()
            return result

    def sendall(self, data: bytes) -> None:
        """Send all of `data` through the inner TLS."""
        view = memoryview(data)
        while view:
            written = self._run(self._tls.write, view)
            view = view[written:]

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end."""
        try:
            return self._run(self._tls.read, size)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""

    def settimeout(self, timeout: float | None) -> None:
        """The outer socket's timeout."""
        self._outer.settimeout(timeout)

    def close(self) -> None:
        """Close the outer socket."""
        self._outer.close()

    def __enter__(self) -> TlsOverTls:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
