"""A real CNCF Distribution registry (`docker-registry serve`) for the tests.

Each instance gets its own config, a free port on 127.0.0.1 and storage in a temporary folder.
Variants: anonymous, htpasswd Basic auth, and Bearer tokens from `tests.support.token_server`.
The access log (stdout) is kept in a file so tests can count blob uploads.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.interrupt import terminate
from tests.support.token_server import ISSUER, SERVICE, TokenKey

_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3})')


def available() -> str | None:
    """Why a registry cannot run here (None when it can)."""
    if shutil.which("docker-registry") is None:
        return (
            "docker-registry (CNCF Distribution) is not installed: apt-get install docker-registry"
        )
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Registry:
    """A running registry: its host:port, its storage, its log."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request in the access log so far."""
        text = self.log.read_text(errors="replace")
        return [(m["method"], m["path"], int(m["status"])) for m in _ACCESS.finditer(text)]

    def blob_uploads(self) -> list[tuple[str, str, int]]:
        """Requests that upload blob bytes or open an upload (mounts excluded)."""
        return [
            r
            for r in self.requests()
            if "/blobs/uploads/" in r[1]
            and r[0] in ("POST", "PATCH", "PUT")
            and "mount=" not in r[1]
        ]

    def stop(self) -> None:
        terminate(self.process)


def _config(root: Path, port: int, auth: str) -> str:
    return f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root / "storage"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{auth}"""


def htpasswd_auth(root: Path, users: dict[str, str]) -> str:
    """An `auth.htpasswd` section with bcrypt entries made by `htpasswd -nbB`."""
    lines = [
        subprocess.run(
            ["htpasswd", "-nbB", user, password], check=True, capture_output=True, text=True
        ).stdout.strip()
        for user, password in users.items()
    ]
    path = root / "htpasswd"
    path.write_text("\n".join(lines) + "\n")
    return f"auth:\n  htpasswd:\n    realm: kubeferry-test\n    path: {path}\n"


def token_auth(realm: str, key: TokenKey) -> str:
    """An `auth.token` section trusting the token server's certificate."""
    return (
        f"auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
        f"    rootcertbundle: {key.cert}\n"
    )


def start_registry(root: Path, auth: str = "") -> Registry:
    """Start `docker-registry serve` and wait until `/v2/` answers (401 counts)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "config.yml"
    config.write_text(_config(root, port, auth))
    log = root / "registry.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=sink, stderr=subprocess.STDOUT
        )
    registry = Registry(root, port, process, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{registry.url}/v2/", timeout=1).status_code in (200, 401):
                return registry
        except httpx.HTTPError:
            time.sleep(0.1)
    registry.stop()
    raise RuntimeError(
        f"docker-registry did not answer /v2/ within 20 s: {log.read_text()[-2000:]}"
    )
