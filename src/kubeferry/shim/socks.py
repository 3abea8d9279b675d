"""A SOCKS5 tunnel for the probe, as Go's transport opens one (cold path; `socksio`).

Go sends the server's name to the proxy unresolved (an IP literal as an address), offers
username/password only when the proxy URL carries them, and reads the proxy's reply before
speaking TLS through the tunnel. `socksio` (httpx's SOCKS library) packs and unpacks the
messages; this module only moves the bytes.
"""

from __future__ import annotations

import socket
from urllib.parse import unquote, urlsplit

from kubeferry.shim.connect import ProxyError, shown

ADDRESS_LENGTHS = {1: 4, 4: 16}  # IPv4, IPv6; 3 (a name) carries its own length byte


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ProxyError("the SOCKS5 proxy closed the connection")
        data += chunk
    return data


def _reply(sock: socket.socket) -> bytes:
    head = _read(sock, 5)
    atype = head[3]
    length = ADDRESS_LENGTHS.get(atype, head[4] + 1) - 1  # one address byte is already read
    return head + _read(sock, length + 2)


def socks5_connect(sock: socket.socket, proxy: str, host: str, port: int) -> socket.socket:
    """Open a SOCKS5 CONNECT to host:port over `sock` (already connected to the proxy)."""
    from socksio import ProtocolError, socks5

    parts = urlsplit(proxy)
    connection = socks5.SOCKS5Connection()
    methods = [socks5.SOCKS5AuthMethod.NO_AUTH_REQUIRED]
    if parts.username is not None:
        methods.append(socks5.SOCKS5AuthMethod.USERNAME_PASSWORD)
    try:
        connection.send(socks5.SOCKS5AuthMethodsRequest(methods))
        sock.sendall(connection.data_to_send())
        chosen = connection.receive_data(_read(sock, 2))
        if getattr(chosen, "method", None) == socks5.SOCKS5AuthMethod.USERNAME_PASSWORD:
            user = unquote(parts.username or "").encode()
            password = unquote(parts.password or "").encode()
            connection.send(socks5.SOCKS5UsernamePasswordRequest(user, password))
            sock.sendall(connection.data_to_send())
            if not getattr(connection.receive_data(_read(sock, 2)), "success", False):
                raise ProxyError(f"the SOCKS5 proxy {shown(proxy)} refused the user name")
        elif getattr(chosen, "method", None) != socks5.SOCKS5AuthMethod.NO_AUTH_REQUIRED:
            raise ProxyError(f"the SOCKS5 proxy {shown(proxy)} offers no way to log in we have")
        request = socks5.SOCKS5CommandRequest.from_address(
            socks5.SOCKS5Command.CONNECT, (host, port)
        )
        connection.send(request)
        sock.sendall(connection.data_to_send())
        reply = connection.receive_data(_reply(sock))
    except (OSError, ProtocolError) as exc:
        sock.close()
        raise ProxyError(f"the SOCKS5 proxy {shown(proxy)} failed ({exc})") from exc
    except ProxyError:
        sock.close()
        raise
    code = getattr(reply, "reply_code", None)
    if code != socks5.SOCKS5ReplyCode.SUCCEEDED:
        sock.close()
        name = getattr(code, "name", code)
        raise ProxyError(f"the SOCKS5 proxy {shown(proxy)} refused {host}:{port} ({name})")
    return sock
