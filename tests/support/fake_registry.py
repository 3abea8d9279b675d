"""A hostile OCI registry on 127.0.0.1: the answers a real registry never gives, on demand.

Each path gets a `Reply` (status, headers, body) and a way to send it: all at once, the body
trickled a byte at a time, the headers trickled, or a redirect. A Bearer challenge can name any
realm (an http:// one from an https registry). It speaks HTTP/1.1 over plain TCP or TLS (a
certificate from `apiserver.make_pki`), one thread per connection, and records every request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Reply:
    """What one path answers, and how it is sent."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle_body: float = 0.0  # seconds between body bytes (0: all at once)
    trickle_headers: float = 0.0  # seconds between header bytes
    length: bool = True  # send Content-Length (else close-delimited)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def deep_json(levels: int) -> bytes:
    """`[[[...]]]`, `levels` deep: valid JSON no recursive parser survives."""
    return b"[" * levels + b"]" * levels


class FakeRegistry:
    """Serves `routes` (path -> Reply); a `challenge` realm makes /v2/ paths want a token."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Reply] = {"/v2/": Reply(200, b"{}")}
        self.challenge: str | None = None
        self.challenge_body = b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._port = int(self._listener.getsockname()[1])
        self._context: ssl.SSLContext | None = None
        if tls is not None:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(str(tls[0]), str(tls[1]))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return self._port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self._context else 'http'}://{self.host}"

    def __enter__(self) -> FakeRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    # -- content ------------------------------------------------------------------------------

    def blob(self, repository: str, data: bytes, **how: Any) -> str:
        """Serve `data` as a blob of `repository`; its digest."""
        found = digest(data)
        self.routes[f"/v2/{repository}/blobs/{found}"] = Reply(200, data, **how)
        return found

    def manifest(
        self,
        repository: str,
        reference: str,
        body: bytes,
        media_type: str = OCI_MANIFEST,
        **how: Any,
    ) -> None:
        """Serve `body` as the manifest `repository:reference`."""
        headers = {"Content-Type": media_type, "Docker-Content-Digest": digest(body)}
        self.routes[f"/v2/{repository}/manifests/{reference}"] = Reply(200, body, headers, **how)

    def paths(self, prefix: str = "") -> list[str]:
        return [path for _, path, _ in self.requests if path.startswith(prefix)]

    # -- serving ------------------------------------------------------------------------------

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError, ValueError):
            if self._context is not None:
                connection = self._context.wrap_socket(connection, server_side=True)
            stream = connection.makefile("rb")
            while not self._stop.is_set():
                request_line = stream.readline(65536)
                if not request_line:
                    break
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (line := stream.readline(65536)) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    stream.read(length)
                self.requests.append((method, target, headers))
                if not self._answer(connection, method, target, headers):
                    break
        with contextlib.suppress(OSError):
            connection.close()

    def _answer(
        self, connection: socket.socket, method: str, target: str, headers: dict[str, str]
    ) -> bool:
        path = target.split("?", 1)[0]
        reply = self.routes.get(path)
        if self.challenge and path.startswith("/v2/") and "authorization" not in headers:
            reply = Reply(
                401,
                self.challenge_body,
                {"WWW-Authenticate": f'Bearer realm="{self.challenge}",service="fake"'},
            )
        if reply is None:
            reply = Reply(404, b'{"errors":[{"code":"NOT_FOUND"}]}')
        wanted = headers.get("range", "")
        if reply.status == 200 and wanted.startswith("bytes=") and wanted.endswith("-"):
            start, size = int(wanted[6:-1]), len(reply.body)
            if start < size:
                ranged = {**reply.headers, "Content-Range": f"bytes {start}-{size - 1}/{size}"}
                reply = Reply(206, reply.body[start:], ranged, reply.trickle_body)
        send_body = method != "HEAD"
        head = [f"HTTP/1.1 {reply.status} X"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        if reply.length:
            head.append(f"Content-Length: {len(reply.body)}")
        else:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        _send(connection, data, reply.trickle_headers, self._stop)
        if send_body:
            _send(connection, reply.body, reply.trickle_body, self._stop)
        return reply.length


def _send(connection: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    if not every:
        connection.sendall(data)
        return
    for index in range(len(data)):
        if stop.wait(every):
            raise OSError("stopped")
        connection.sendall(data[index : index + 1])


def token_reply(token: str = "t0k3n") -> Reply:
    return Reply(200, json.dumps({"token": token, "expires_in": 300}).encode())


def bundle_artifact(
    registry: FakeRegistry, repository: str, manifest_body: bytes, files: dict[str, bytes]
) -> bytes:
    """Serve a kubeferry bundle artifact (`files` as layers, `manifest_body` as the bundle
    manifest layer); the artifact manifest's bytes."""
    layers = []
    for title, data in files.items():
        layers.append(
            {
                "mediaType": "application/vnd.kubeferry.bundle.file.v1",
                "digest": registry.blob(repository, data),
                "size": len(data),
                "annotations": {"org.opencontainers.image.title": title},
            }
        )
    layers.append(
        {
            "mediaType": "application/vnd.kubeferry.bundle.manifest.v1+json",
            "digest": registry.blob(repository, manifest_body),
            "size": len(manifest_body),
            "annotations": {"org.opencontainers.image.title": "kubeferry-bundle.json"},
        }
    )
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.kubeferry.bundle.v1",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": digest(b"{}"),
            "size": 2,
        },
        "layers": layers,
    }
    return json.dumps(document).encode()


def bundle_manifest(files: dict[str, bytes]) -> bytes:
    """A kubeferry-bundle.json listing `files`."""
    entries = [
        {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "url": ""}
        for path, data in files.items()
    ]
    document = {"kind": "kubeferry-bundle", "format": 1, "created": "", "tool": "", "targets": {}}
    return json.dumps({**document, "files": entries}).encode()


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
