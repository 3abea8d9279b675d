"""Reaching the API server as kubectl does: directly, or through an HTTP proxy (cold path).

Go's rules (net/http, golang.org/x/net/http/httpproxy), which client-go uses:

- the cluster's `proxy-url` always applies, whatever the host;
- else `HTTPS_PROXY` (for https servers; `HTTP_PROXY` for http), the upper-case name first;
- never for `localhost` or a loopback IP (127.0.0.0/8, ::1);
- not for hosts `NO_PROXY` lists: `*`; an IP; a CIDR; `example.com` (that host and every
  subdomain); `.example.com` (subdomains only); `*.example.com` (as `.example.com`); each
  optionally with `:port`.

A proxy is `http://`, `https://` (TLS to the proxy with the cluster's TLS settings, as Go's
transport does) or `socks5://` (`socks5h://` from the environment; `socks.py`). Through an
http(s) proxy an https server is reached by a CONNECT tunnel and an http server by a request in
absolute form; through SOCKS5 both are tunnelled. A `NO_PROXY` domain entry never matches an
IP-literal server.
"""

from __future__ import annotations

import binascii
import socket
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from ipaddress import IPv4Address, IPv6Address


class ProxyError(Exception):
    """The proxy could not be used (unsupported scheme, refused tunnel, no answer)."""


def _env_any(environ: Mapping[str, str], *names: str) -> str:
    for name in names:
        if environ.get(name):
            return environ[name]
    return ""


def _ip(host: str) -> IPv4Address | IPv6Address | None:
    import ipaddress  # only with a proxy configured: 2 ms of every cold call otherwise

    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _split_entry(entry: str) -> tuple[str, str]:
    """`host:port`, `[v6]:port`, `v6`, `host` -> (host, port or "")."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, ""


def _listed(host: str, port: str, no_proxy: str) -> bool:
    """True when NO_PROXY says `host:port` goes direct (Go's httpproxy matchers)."""
    ip = _ip(host)
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            import ipaddress

            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, entry_port = _split_entry(entry)
        if entry_port and entry_port != port:
            continue
        if (listed_ip := _ip(name)) is not None:
            if ip is not None and ip == listed_ip:
                return True
            continue
        if ip is not None or not name:
            continue  # a domain entry never matches an IP literal (Go since x/net 0.18)
        if name.startswith("*."):
            name = name[1:]
        if name.startswith("."):
            if host.endswith(name):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def use_proxy(host: str, port: str, no_proxy: str) -> bool:
    """Go's `useProxy`: loopback and localhost never, NO_PROXY entries never, else yes."""
    host = host.lower().strip()
    if host == "localhost":
        return False
    ip = _ip(host)
    if ip is not None and ip.is_loopback:
        return False
    return not _listed(host, port, no_proxy)


KUBECONFIG_SCHEMES = ("http", "https", "socks5")  # client-go's parseProxyURL
ENVIRONMENT_SCHEMES = ("http", "https", "socks5", "socks5h")  # Go's net/http transport


def proxy_for(server: str, proxy_url: str | None, environ: Mapping[str, str]) -> str | None:
    """The proxy URL kubectl would use for `server`, or None for a direct connection."""
    if proxy_url:
        if urlsplit(proxy_url).scheme not in KUBECONFIG_SCHEMES:
            raise ProxyError(
                f"proxy-url {shown(proxy_url)}: kubectl accepts only http, https and socks5 "
                "proxies there and will refuse it"
            )
        return proxy_url
    parts = urlsplit(server)
    https = parts.scheme == "https"
    value = (
        _env_any(environ, "HTTPS_PROXY", "https_proxy")
        if https
        else _env_any(environ, "HTTP_PROXY", "http_proxy")
    )
    if not value:
        return None
    port = str(parts.port or (443 if https else 80))
    if not use_proxy(parts.hostname or "", port, _env_any(environ, "NO_PROXY", "no_proxy")):
        return None
    return value if "://" in value else f"http://{value}"


def shown(proxy: str) -> str:
    """The proxy URL without its password, for messages."""
    parts = urlsplit(proxy)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}"


def _authorization(proxy: str) -> list[str]:
    parts = urlsplit(proxy)
    if parts.username is None:
        return []
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return [f"Proxy-Authorization: Basic {binascii.b2a_base64(pair, newline=False).decode()}"]


def open_proxy(
    proxy: str, timeout: float, wrap: Callable[[socket.socket], socket.socket] | None = None
) -> socket.socket:
    """A connection to the proxy (TLS through `wrap` for an https:// one); ProxyError if none."""
    parts = urlsplit(proxy)
    if parts.scheme not in ENVIRONMENT_SCHEMES:
        raise ProxyError(f"proxy {shown(proxy)} uses {parts.scheme}://, which kubectl refuses")
    default = {"http": 80, "https": 443}.get(parts.scheme, 1080)
    try:
        sock = socket.create_connection((parts.hostname or "", parts.port or default), timeout)
    except OSError as exc:
        raise ProxyError(f"proxy {shown(proxy)} could not be reached ({exc})") from exc
    if wrap is None:
        return sock
    try:
        return wrap(sock)
    except OSError as exc:  # ssl.SSLError is an OSError
        sock.close()
        raise ProxyError(f"TLS to the proxy {shown(proxy)} failed ({exc})") from exc


def tunnel(
    proxy: str,
    host: str,
    port: int,
    timeout: float,
    wrap: Callable[[socket.socket], socket.socket] | None = None,
) -> socket.socket:
    """A tunnel through `proxy` to host:port: SOCKS5, or CONNECT as Go's transport opens it."""
    sock = open_proxy(proxy, timeout, wrap)
    if proxy.startswith("socks5"):
        from kubeferry.shim.socks import socks5_connect

        return socks5_connect(sock, proxy, host, port)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", *_authorization(proxy), "", ""]
    try:
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        answer = b""
        while b"\r\n\r\n" not in answer and len(answer) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError as exc:
        sock.close()
        raise ProxyError(f"proxy {shown(proxy)} did not open a tunnel to {target} ({exc})") from exc
    status = answer.split(b"\r\n", 1)[0].decode("latin-1", errors="replace")
    fields = status.split(" ", 2)
    if len(fields) < 2 or fields[1] != "200":
        sock.close()
        raise ProxyError(
            f"proxy {shown(proxy)} refused a tunnel to {target} ({status.strip() or 'no answer'})"
        )
    return sock


def proxy_request_headers(proxy: str) -> list[str]:
    """Headers for a plain-http request sent to a proxy in absolute form."""
    return _authorization(proxy)
