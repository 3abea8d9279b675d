"""A real nginx serving a folder on 127.0.0.1, started by the test with its own config.

`nginx -c CONF -p PREFIX` with `daemon off;`, the pid file, error log and every temp path under
PREFIX, `sendfile on;`, one `server` on a free loopback port whose root is the folder, and an
`include` of extra `location` blocks (the exported snippet). Started as root, nginx's workers
run as `nobody`, so the served tree must be world-readable.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.interrupt import terminate

CONFIG = """\
daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        {include}
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx executable, or None when it is not installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None
    )


def free_port() -> int:
    """A port nobody listens on right now (nginx cannot be told to pick one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Nginx:
    """`with Nginx(root, snippet) as web:`; `web.url` is the base address."""

    def __init__(
        self, root: Path, prefix: Path, snippet: Path | None = None, workers: int = 1
    ) -> None:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed")
        self.binary = binary
        self.prefix = prefix
        self.port = free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        mime_types = Path("/etc/nginx/mime.types")
        self.config = prefix / "nginx.conf"
        self.config.write_text(
            CONFIG.format(
                workers=workers,
                prefix=prefix,
                port=self.port,
                root=root,
                mime_types=mime_types if mime_types.is_file() else prefix / "none.types",
                include=f"include {snippet};" if snippet else "",
            )
        )
        if not mime_types.is_file():
            (prefix / "none.types").write_text("types { }\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Nginx:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config), "-p", str(self.prefix)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = (
                    (self.prefix / "error.log").read_text()
                    if (self.prefix / "error.log").exists()
                    else ""
                )
                raise RuntimeError(f"nginx exited: {self.process.stderr.read()!r} {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening within 10 s")

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        terminate(self.process)
