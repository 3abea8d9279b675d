"""`GET <server>/version` with the kubeconfig's TLS settings and credentials (cold path).

Supports the CA as file or data, `insecure-skip-tls-verify`, `tls-server-name`, client
certificates as files or data, tokens and token files, basic auth, and `exec` credential plugins
(`client.authentication.k8s.io/v1` and `v1beta1`). While a plugin runs, `KUBERLR_RESOLVING_VERSION`
is set in its environment, so a plugin that calls kubectl again does not probe again.
The probe goes straight to the server: API servers of local clusters are not behind a proxy.
"""

from __future__ import annotations

import binascii
import json
import os
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kubeferry.core.kuberlr import GUARD
from kubeferry.shim.kubeconfig import ClusterAccess


class ProbeError(Exception):
    """The server's version could not be read."""


def _exec_credential(
    config: dict[str, Any], environ: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    command = config.get("command")
    if not command:
        raise ProbeError("exec credential plugin without a command")
    env = dict(environ)
    for item in config.get("env") or []:
        env[str(item.get("name"))] = str(item.get("value"))
    api_version = config.get("apiVersion", "client.authentication.k8s.io/v1")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    )
    env[GUARD] = "1"
    import subprocess

    try:
        done = subprocess.run(
            [command, *[str(a) for a in config.get("args") or []]],
            env=env,
            capture_output=True,
            timeout=max(timeout, 10),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProbeError(f"exec credential plugin {command} failed: {exc}") from exc
    if done.returncode != 0:
        raise ProbeError(f"exec credential plugin {command} exited {done.returncode}")
    try:
        status = json.loads(done.stdout).get("status") or {}
    except (ValueError, AttributeError) as exc:
        raise ProbeError(f"exec credential plugin {command} printed no ExecCredential") from exc
    return status


def _private_folder() -> str:
    """A new folder only this user can read (tempfile would cost the cold path 10 ms)."""
    names = ("XDG_RUNTIME_DIR", "TMPDIR", "TEMP", "TMP")
    base = next((os.environ[n] for n in names if os.environ.get(n)), "/tmp")  # noqa: S108
    for attempt in range(100):
        folder = os.path.join(base, f"kubeferry-probe-{os.getpid()}-{time.time_ns()}-{attempt}")
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        return folder
    raise ProbeError(f"cannot make a private folder in {base}")


def _context(access: ClusterAccess, cert: tuple[bytes, bytes] | None) -> ssl.SSLContext:
    if access.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif access.ca_file or access.ca_data:
        context = ssl.create_default_context(cafile=access.ca_file, cadata=access.ca_data)
    else:
        context = ssl.create_default_context()
    if access.cert_file and access.key_file and cert is None:
        context.load_cert_chain(access.cert_file, access.key_file)
    elif cert is not None:
        # ssl loads client certificates from files only: a private folder, removed at once.
        folder = _private_folder()
        try:
            paths = []
            for name, data in zip(("cert.pem", "key.pem"), cert, strict=True):
                path = os.path.join(folder, name)
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as stream:
                    stream.write(data)
                paths.append(path)
            context.load_cert_chain(paths[0], paths[1])
        finally:
            for name in ("cert.pem", "key.pem"):
                try:
                    os.unlink(os.path.join(folder, name))
                except OSError:
                    pass
            os.rmdir(folder)
    return context


def _credentials(
    access: ClusterAccess, environ: Mapping[str, str], timeout: float
) -> tuple[dict[str, str], tuple[bytes, bytes] | None]:
    headers: dict[str, str] = {}
    cert = (access.cert_data, access.key_data) if access.cert_data and access.key_data else None
    token = access.token
    if access.token_file and not token:
        try:
            with open(access.token_file, encoding="utf-8") as stream:
                token = stream.read().strip()
        except OSError as exc:
            raise ProbeError(f"cannot read token file {access.token_file}: {exc}") from exc
    if access.exec_config:
        status = _exec_credential(access.exec_config, environ, timeout)
        token = status.get("token") or token
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            cert = (
                str(status["clientCertificateData"]).encode(),
                str(status["clientKeyData"]).encode(),
            )
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif access.username and access.password:
        pair = f"{access.username}:{access.password}".encode()
        headers["Authorization"] = "Basic " + binascii.b2a_base64(pair, newline=False).decode()
    return headers, cert


def _request(sock: socket.socket, host: str, path: str, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 GET with `Connection: close`; the raw response (http.client costs 35 ms)."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: kubeferry-kubectl",
        "Connection: close",
        *[f"{k}: {v}" for k, v in headers.items()],
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
        raise ProbeError(f"{server} did not answer HTTP")
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
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)


def server_version(access: ClusterAccess, environ: Mapping[str, str], timeout: float) -> str:
    """The server's gitVersion (`v1.30.6+k3s1`); ProbeError when it cannot be had."""
    parts = urlsplit(access.server)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProbeError(f"server {access.server!r} is not an http(s) URL")
    headers, cert = _credentials(access, environ, timeout)
    headers["Accept"] = "application/json"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        sock = socket.create_connection((parts.hostname, port), timeout=timeout)
        with sock:
            if parts.scheme == "https":
                context = _context(access, cert)
                sock = context.wrap_socket(
                    sock, server_hostname=access.tls_server_name or parts.hostname
                )
            raw = _request(
                sock, parts.netloc, f"{parts.path.rstrip('/')}/version?timeout=32s", headers
            )
            sock.close()
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ProbeError(f"{access.server}: {exc}") from exc
    status, body = _parse_response(raw, access.server)
    if status != 200:
        raise ProbeError(f"{access.server}/version answered HTTP {status}")
    try:
        git_version = json.loads(body)["gitVersion"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProbeError(f"{access.server}/version answered no gitVersion") from exc
    return str(git_version)
