"""Registry credentials and the auth flows registries use: anonymous, Basic, Bearer tokens.

`RegistryAuth` is an `httpx.Auth`: each request gets the scope its path needs
(`repository:<name>:pull` or `pull,push`, plus `pull` on the source of a cross-repository mount).
After the first `401` names the scheme, Bearer tokens are fetched from the challenge's realm
before each request (one per scope, cached until shortly before they expire), so a streamed
upload body never needs to be sent twice.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, urlsplit

import httpx

from kubeferry.errors import RegistryAuthError, RegistryError
from kubeferry.files.textfiles import parse_json
from kubeferry.transport import http
from kubeferry.transport.documents import fetch_document

_CHALLENGE_PARAM: Final = re.compile(r'(\w+)="([^"]*)"')
_V2_PATH: Final = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags)/")
TOKEN_MARGIN: Final = 10.0
DEFAULT_TOKEN_LIFETIME: Final = 60.0
TOKEN_LIMIT: Final = 1024 * 1024
"""A token reply is a few kilobytes; more than 1 MiB is refused unread."""


@dataclass(frozen=True)
class Credentials:
    """A username and password (or token) for one registry."""

    username: str
    password: str
    source: str = "--username"


def login_hint(registry: str) -> str:
    """What a person runs to give kubeferry credentials for `registry`."""
    return (
        f"log in: pass --username USER --password-stdin (the password on standard input), or run "
        f"'docker login {registry}' so kubeferry reads it from Docker's config.json (its "
        "'auths' entries; credential helpers such as credsStore are not read)"
    )


def docker_config_path(environ: Mapping[str, str], home: Path) -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    folder = environ.get("DOCKER_CONFIG")
    return (Path(folder) if folder else home / ".docker") / "config.json"


def _auth_key_host(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def docker_config_credentials(registry: str, path: Path) -> Credentials | None:
    """The `auths` entry for `registry` in Docker's config.json (base64 `user:password`)."""
    fix = "Fix or move it, or pass --username and --password-stdin."
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RegistryAuthError(
            f"{path} cannot be read as Docker's config.json ({exc}). {fix}", path=path
        ) from exc
    document = parse_json(text, source=str(path), fix=fix, error=RegistryAuthError)
    auths = document.get("auths") if isinstance(document, dict) else None
    wanted = _auth_key_host(registry)
    for key, entry in (auths or {}).items():
        if _auth_key_host(key) != wanted or not isinstance(entry, dict):
            continue
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                username, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise RegistryAuthError(
                    f"{path}: the 'auth' of {key} is not base64 'user:password'. Run "
                    f"'docker login {registry}' again.",
                    path=path,
                ) from exc
            return Credentials(username, password, source=str(path))
        if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return Credentials(entry["username"], entry["password"], source=str(path))
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ('bearer', {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _CHALLENGE_PARAM.findall(rest)}


def request_scopes(request: httpx.Request) -> tuple[str, ...]:
    """The token scopes a registry request needs, from its path, method and mount source."""
    match = _V2_PATH.match(request.url.path)
    if match is None:
        return ()
    actions = "pull" if request.method in ("GET", "HEAD") else "pull,push"
    scopes = [f"repository:{match['name']}:{actions}"]
    source = parse_qs(urlsplit(str(request.url)).query).get("from")
    if source:
        scopes.append(f"repository:{source[0]}:pull")
    return tuple(scopes)


def refuse_weaker_realm(registry_url: str, target: str) -> None:
    """An https registry's token realm must be https too: credentials never go out in clear."""
    if urlsplit(registry_url).scheme == "https" and urlsplit(target).scheme != "https":
        raise RegistryAuthError(
            f"the registry {registry_url} asked for credentials to be sent to {target}, which is "
            "not https: they (and the token that comes back) would travel in clear text, so "
            "kubeferry sent nothing there. Fix the registry's token realm (auth.token.realm) to "
            "an https URL.",
            url=target,
            expected=registry_url,
            actual=target,
        )


class RegistryAuth(httpx.Auth):
    """Anonymous until challenged; then Basic, or Bearer tokens cached per scope."""

    def __init__(
        self,
        registry_url: str,
        credentials: Credentials | None,
        token_client: httpx.Client,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry_url = registry_url
        self.credentials = credentials
        self._token_client = token_client
        self._clock = clock
        self._lock = threading.Lock()
        self._scheme: str | None = None
        self._challenge: dict[str, str] = {}
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}

    def _basic(self) -> str:
        assert self.credentials is not None
        pair = f"{self.credentials.username}:{self.credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _token(self, scopes: tuple[str, ...]) -> str:
        with self._lock:
            cached = self._tokens.get(scopes)
            if cached and cached[1] > self._clock():
                return cached[0]
            token, lifetime = self._fetch_token(scopes)
            self._tokens[scopes] = (token, self._clock() + max(lifetime - TOKEN_MARGIN, 1.0))
            return token

    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, float]:
        realm = self._challenge.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryError(
                f"{self.registry_url} asked for a Bearer token without a usable realm "
                f"({realm!r}). Check the registry's auth configuration.",
                url=self.registry_url,
            )
        refuse_weaker_realm(self.registry_url, realm)
        params: list[tuple[str, str]] = []
        if self._challenge.get("service"):
            params.append(("service", self._challenge["service"]))
        params += [("scope", scope) for scope in scopes]
        headers = {"Authorization": self._basic()} if self.credentials else {}
        try:
            answer = fetch_document(
                self._token_client,
                realm,
                limit=TOKEN_LIMIT,
                what="a token reply",
                headers=headers,
                params=params,
                error=RegistryError,
                failed=self._unreachable,
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(realm, 1, f"{type(exc).__name__}: {exc}") from exc
        if answer.status in (401, 403):
            raise RegistryAuthError(
                f"the token service {realm} of {self.registry_url} refused the credentials"
                f"{self._source()} (HTTP {answer.status}). "
                f"{login_hint(urlsplit(self.registry_url).netloc)}.",
                url=realm,
                actual=str(answer.status),
            )
        return self._token_from(answer.status, answer.body, realm)

    def _token_from(self, status: int, body: bytes, realm: str) -> tuple[str, float]:
        """The token and its lifetime from a token reply (JSON, depth- and size-limited)."""
        fix = "Check the registry's auth configuration."
        if status != 200:
            raise RegistryError(
                f"the token service {realm} answered HTTP {status} without a token. {fix}",
                url=realm,
                actual=str(status),
            )
        document = parse_json(
            body,
            source=f"the token reply of {realm}",
            fix=fix,
            error=RegistryError,
            max_bytes=TOKEN_LIMIT,
        )
        if not isinstance(document, dict):
            document = {}
        token = document.get("token") or document.get("access_token")
        try:
            lifetime = float(document.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, TypeError, OverflowError):
            lifetime = -1.0
        if not isinstance(token, str) or not token or not 0 <= lifetime < float("inf"):
            raise RegistryError(
                f"the token service {realm} answered HTTP 200 without a usable token (a 'token' "
                f"string and a numeric 'expires_in'). {fix}",
                url=realm,
            )
        return token, lifetime

    def _unreachable(self, realm: str, attempts: int, last: str) -> RegistryError:
        return RegistryError(
            f"the token service {realm} of {self.registry_url} could not be reached or did not "
            f"answer ({attempts} tries; last: {last}). Check the network and proxy settings.",
            url=realm,
        )

    def _source(self) -> str:
        return f" from {self.credentials.source}" if self.credentials else " (none were given)"

    def _authorize(self, request: httpx.Request) -> None:
        if self._scheme == "basic" and self.credentials:
            request.headers["Authorization"] = self._basic()
        elif self._scheme == "bearer":
            request.headers["Authorization"] = "Bearer " + self._token(request_scopes(request))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send; on a first 401 learn the scheme and send once more with credentials."""
        if not http.same_host(str(request.url), self.registry_url):
            yield request  # a redirect to storage (or to another scheme): no registry credentials
            return
        self._authorize(request)
        response = yield request
        if response.status_code != 401 or "Authorization" in request.headers:
            return
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme not in ("basic", "bearer") or (scheme == "basic" and not self.credentials):
            return
        with self._lock:
            self._scheme, self._challenge = scheme, params
        self._authorize(request)
        yield request
