"""A TLS server on 127.0.0.1 that answers `GET /version` like a Kubernetes API server.

It checks a client certificate (signed by its own CA, made with the `openssl` CLI) or a bearer
token; anything else gets a 401 Status, as kube-apiserver answers. Other paths answer a 404
Status, so `kubectl get --raw /nope` fails as it does against a real cluster. It counts
connections and requests, and its version can change while it runs (an upgrade).

The CA looks like k3s's (`keyUsage` critical: keyCertSign, digitalSignature, keyEncipherment;
basicConstraints critical CA:TRUE; a subject key identifier), or, with `ca_key_usage=False`,
like a CA that carries no keyUsage at all (which Python 3.13's strict X.509 mode rejects and Go
accepts). The server certificate names IP 127.0.0.1, `localhost` and SERVER_NAME.
`BlackHole` accepts TCP connections and never answers.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Pki:
    """CA, server and client certificates in one folder."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    def pem(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def b64(self, name: str) -> str:
        return base64.b64encode(self.pem(name)).decode()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


SERVER_NAME = "kube.example.test"
NAMESPACE_IP = "10.250.0.1"  # a non-loopback address, only inside a test's own namespace
CA_CONFIG = """[req]
distinguished_name = dn
x509_extensions = ca
[dn]
[ca]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
"""
K3S_KEY_USAGE = "keyUsage = critical,keyCertSign,digitalSignature,keyEncipherment\n"


def _issue(folder: Path, name: str, extension: str, bits: int = 2048) -> None:
    (folder / f"{name}.ext").write_text(extension + "\n")
    subject = f"/CN={name}/O=system:masters"
    _openssl(
        "req", "-newkey", f"rsa:{bits}", "-nodes", "-keyout", f"{name}.key", "-out",
        f"{name}.csr", "-subj", subject, cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
        cwd=folder,
    )  # fmt: skip


def make_pki(folder: Path, *, ca_key_usage: bool = True) -> Pki:
    """A CA (k3s-like, or without keyUsage), a server cert for 127.0.0.1, a client cert."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.cnf").write_text(CA_CONFIG + (K3S_KEY_USAGE if ca_key_usage else ""))
    _openssl(
        "req",
        "-x509",
        "-config",
        "ca.cnf",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=kubeferry-test-ca",
        cwd=folder,
    )
    san = f"subjectAltName=IP:127.0.0.1,IP:{NAMESPACE_IP},DNS:localhost,DNS:{SERVER_NAME}"
    usage = "keyUsage=critical,digitalSignature,keyEncipherment"
    server = f"{san}\nextendedKeyUsage=serverAuth\n{usage}"
    client = "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature"
    _issue(folder, "server", server)
    _issue(folder, "client", client)
    _issue(folder, "weak-server", server, bits=1024)  # Go accepts it; OpenSSL's level 2 not
    _openssl(  # the client key under a pass phrase (kubectl cannot use it; nothing may prompt)
        "pkey",
        "-in",
        "client.key",
        "-aes256",
        "-passout",
        "pass:x",
        "-out",
        "client-enc.key",
        cwd=folder,
    )
    return Pki(folder)


@dataclass
class ApiState:
    git_version: str
    token: str = "s3cret"
    basic: str = "alice:wonderland"
    anonymous: bool = False  # answer /version whatever the credentials (logged all the same)
    version_requests: int = 0
    requests: int = 0
    connections: int = 0
    log: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def asked_by(self, agent: str) -> list[Request]:
        """The requests whose User-Agent starts with `agent` (`kubectl/`, `kubeferry`)."""
        return [r for r in self.log if r.agent.startswith(agent)]


@dataclass(frozen=True)
class Request:
    """One request as the server saw it: who asked what, with which credentials."""

    path: str
    agent: str
    authorization: str | None
    client_cn: str | None
    impersonate: tuple[str, ...]

    def credentials(self) -> tuple[str | None, str | None, tuple[str, ...]]:
        """What identifies the caller (compared between kubectl and the wrapper's probe)."""
        return self.authorization, self.client_cn, self.impersonate


def _client_cn(connection: Any) -> str | None:
    getpeercert = getattr(connection, "getpeercert", None)
    peer = getpeercert() if getpeercert else None
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> str | None:
        """Log the request (agent, credentials, impersonation); the client certificate's CN."""
        state = self.server.state
        client_cn = _client_cn(self.connection)
        impersonate = tuple(  # by name (the order of values kept), whatever order they came in
            f"{name}={value}"
            for name, value in sorted(self.headers.items(), key=lambda item: item[0].lower())
            if name.lower().startswith("impersonate-")
        )
        agent, authorization = self.headers.get("User-Agent", ""), self.headers.get("Authorization")
        with state.lock:
            state.requests += 1
            state.log.append(Request(self.path, agent, authorization, client_cn, impersonate))
        return client_cn

    def do_GET(self) -> None:
        state = self.server.state
        client_cn = self._record()
        authorization = self.headers.get("Authorization")
        basic = "Basic " + base64.b64encode(state.basic.encode()).decode()
        known = (f"Bearer {state.token}", basic)
        public = state.anonymous and self.path.startswith("/version")
        if not (client_cn or authorization in known or public):
            return self._json(
                401,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": "Unauthorized",
                    "reason": "Unauthorized",
                    "code": 401,
                },
            )
        if self.path.split("?", 1)[0] == "/version":
            with state.lock:
                state.version_requests += 1
            core = state.git_version.lstrip("v").split("+")[0].split(".")
            return self._json(
                200,
                {
                    "major": core[0],
                    "minor": core[1],
                    "gitVersion": state.git_version,
                    "platform": "linux/amd64",
                },
            )
        return self._json(
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "the server could not find the requested resource",
                "reason": "NotFound",
                "code": 404,
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ApiState

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.state.lock:
            self.state.connections += 1
        return True


class ApiServer:
    """`with ApiServer(pki, "v1.31.2+k3s1") as api:`; `api.url`.

    `tls=False` serves plain http; `certificate` names another server cert/key pair in the PKI
    folder (`weak_server_cert` makes a 1024-bit one); `host` binds another address (a test's
    own network namespace).
    """

    def __init__(
        self,
        pki: Pki,
        git_version: str,
        *,
        tls: bool = True,
        certificate: str = "server",
        host: str = "127.0.0.1",
    ) -> None:
        self.pki = pki
        self.state = ApiState(git_version)
        self.tls = tls
        self._server = _Server((host, 0), _Handler)
        self._server.state = self.state
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # a weak key is the point of some tests
            folder = pki.folder
            context.load_cert_chain(folder / f"{certificate}.crt", folder / f"{certificate}.key")
            context.load_verify_locations(pki.ca)
            context.verify_mode = ssl.CERT_OPTIONAL
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """host:port."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BlackHole:
    """`with BlackHole() as hole:` a port that accepts TCP connections and never answers."""

    def __init__(self, port: int = 0) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(64)  # the kernel completes handshakes; nobody ever reads
        self._held: list[socket.socket] = []

    def wait_for_connection(self, timeout: float) -> None:
        """Return once a client has connected (the connection is held open, never answered)."""
        self._socket.settimeout(timeout)
        connection, _ = self._socket.accept()  # socket.timeout (an OSError) fails the test
        self._held.append(connection)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._socket.getsockname()[1]}"

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        for connection in self._held:
            connection.close()
        self._socket.close()


def kubeconfig(
    path: Path, contexts: dict[str, tuple[str, dict[str, Any]]], pki: Pki, current: str
) -> Path:
    """Write a kubeconfig: context name -> (server URL, user entry)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "preferences": {},
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": pki.b64("ca.crt")},
            }
            for name, (server, _) in contexts.items()
        ],
        "users": [{"name": name, "user": user} for name, (_, user) in contexts.items()],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name}} for name in contexts
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def cert_user(pki: Pki) -> dict[str, Any]:
    return {
        "client-certificate-data": pki.b64("client.crt"),
        "client-key-data": pki.b64("client.key"),
    }


def token_user(token: str = "s3cret") -> dict[str, Any]:
    return {"token": token}
