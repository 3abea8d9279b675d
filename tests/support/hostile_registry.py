"""A source registry that misbehaves on purpose, and a storage host that logs what it is sent.

Routes (all under /v2/):
    library/liar/manifests/1        a manifest whose layer bytes do not match its digest
    library/huge/manifests/1        a 50 MB manifest body
    library/wide/manifests/1        an index naming 100 000 children (about 10 MB)
    library/many/manifests/1        an index naming 2000 children (small enough to be read)
    library/moved/manifests/1       a manifest whose layer is redirected to the storage host
It asks for Basic credentials (user `u`, password `p`) on every request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAYER = b"the real layer bytes" * 1000
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
AUTH = "Basic " + base64.b64encode(b"u:p").decode()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _manifest() -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "x", "digest": digest(CONFIG), "size": len(CONFIG)},
            "layers": [{"mediaType": "y", "digest": digest(LAYER), "size": len(LAYER)}],
        }
    ).encode()


def _wide_index(children: int) -> bytes:
    child = {"mediaType": OCI_MANIFEST, "digest": digest(b"x"), "size": 10}
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child] * children}
    ).encode()


@dataclass
class Hostile:
    url: str
    storage_url: str
    storage_headers: list[dict[str, str]] = field(default_factory=list)


def _storage(log: list[dict[str, str]]) -> type[BaseHTTPRequestHandler]:
    class Storage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            log.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Length", str(len(LAYER)))
            self.end_headers()
            self.wfile.write(LAYER)

        def log_message(self, *args: object) -> None:
            return None

    return Storage


def _registry(storage_url: str) -> type[BaseHTTPRequestHandler]:
    class Registry(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                with contextlib.suppress(ConnectionError):  # the client may stop reading
                    self.wfile.write(body)

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != AUTH:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="hostile"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = self.path.split("?", 1)[0]
            if path == "/v2/library/huge/manifests/1":
                self._send(200, b'{"pad":"' + b"a" * 50_000_000 + b'"}', OCI_MANIFEST)
            elif path == "/v2/library/wide/manifests/1":
                self._send(200, _wide_index(100_000), OCI_INDEX)
            elif path == "/v2/library/many/manifests/1":
                self._send(200, _wide_index(2000), OCI_INDEX)
            elif path.endswith("/manifests/1"):
                self._send(200, _manifest(), OCI_MANIFEST)
            elif path.endswith(f"/blobs/{digest(CONFIG)}"):
                self._send(200, CONFIG, "application/octet-stream")
            elif path == f"/v2/library/liar/blobs/{digest(LAYER)}":
                self._send(200, b"X" * len(LAYER), "application/octet-stream")
            elif path == f"/v2/library/moved/blobs/{digest(LAYER)}":
                self.send_response(307)
                self.send_header("Location", f"{storage_url}/bucket/layer?signature=abc")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            return None

    return Registry


@contextmanager
def hostile_registry() -> Iterator[Hostile]:
    log: list[dict[str, str]] = []
    storage = ThreadingHTTPServer(("127.0.0.1", 0), _storage(log))
    storage_url = f"http://127.0.0.1:{storage.server_address[1]}"
    registry = ThreadingHTTPServer(("127.0.0.1", 0), _registry(storage_url))
    servers = (storage, registry)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Hostile(f"http://127.0.0.1:{registry.server_address[1]}", storage_url, log)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
