"""A small bearer-token server for CNCF Distribution's `auth.token` mode.

It answers `GET /token?service=…&scope=…` with a JWT signed RS256 by a key whose self-signed
certificate is the registry's `rootcertbundle`. The JWT header carries `kid`, the libtrust key ID
Distribution 2.8 derives from the certificate's public key (SHA-256 of the DER
SubjectPublicKeyInfo, first 240 bits, base32, in 4-character groups joined by ':'). Signing runs
the `openssl` CLI, so the tests need no crypto library.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ISSUER = "kubeferry-test-issuer"
SERVICE = "kubeferry-test-registry"


@dataclass(frozen=True)
class TokenKey:
    """The signing key, its certificate and its libtrust key ID."""

    key: Path
    cert: Path
    kid: str


def make_token_key(folder: Path) -> TokenKey:
    """An RSA key and a self-signed certificate made with the openssl CLI."""
    key, cert = folder / "token.key", folder / "token.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=kubeferry-test-token",
        ],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    digest = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    kid = ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))
    return TokenKey(key, cert, kid)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign_jwt(key: TokenKey, claims: dict[str, Any]) -> str:
    """An RS256 JWT, signed by `openssl dgst -sha256 -sign`."""
    header = {"typ": "JWT", "alg": "RS256", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(key.key)],
        input=signing_input.encode(),
        check=True,
        capture_output=True,
    ).stdout
    return f"{signing_input}.{_b64(signature)}"


@dataclass
class TokenState:
    """Who may do what, and what was asked."""

    key: TokenKey
    users: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lifetime: int = 300


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return ""
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.server.state.users.get(user) == password else None

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        state = self.server.state
        user = self._user()
        state.requests.append({"user": user, "scope": query.get("scope", [])})
        if user is None:
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'
            self.send_response(401)
        else:
            access = []
            for scope in query.get("scope", []) if user else []:
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "sub": user,
                "aud": query.get("service", [SERVICE])[0],
                "exp": now + state.lifetime,
                "nbf": now - 10,
                "iat": now,
                "jti": f"{now}-{len(state.requests)}",
                "access": access,
            }
            token = sign_jwt(state.key, claims)
            body = json.dumps({"token": token, "expires_in": state.lifetime}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: TokenState


class TokenServer:
    """Runs in a thread on 127.0.0.1; `realm` is its token URL."""

    def __init__(self, state: TokenState) -> None:
        self.state = state
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/token"

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
