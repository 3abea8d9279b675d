"""A fast local file server for benchmarks: sendfile, Range, per-connection rate limit, byte counts.

    python benchmarks/fileserver.py ROOT [--rate MBPS]    # prints the URL, serves until killed

`GET /__stats` answers the body bytes sent per path as JSON; `POST /__reset` clears them.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

SLICE = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        with self.server.lock:
            self.server.sent.clear()
        self._small(200, b"{}")

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/__stats":
            with self.server.lock:
                body = json.dumps(self.server.sent).encode()
            return self._small(200, body)
        target = (self.server.root / path.lstrip("/")).resolve()
        if self.server.root not in target.parents or not target.is_file():
            return self._small(404, b"not found")
        return self._file(path, target)

    def _small(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, path: str, target: Path) -> None:
        size = target.stat().st_size
        etag = f'"{size}-{int(target.stat().st_mtime)}"'
        start, stop = 0, size  # `bytes=a-b` as nginx answers it: a to b inclusive
        wanted = self.headers.get("Range")
        ranged = bool(wanted) and self.headers.get("If-Range", etag) == etag
        if wanted and ranged:
            first, _, last = wanted.split("=", 1)[1].partition("-")
            start, stop = int(first), min(size, int(last) + 1) if last else size
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Length", str(stop - start))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.end_headers()
        rate = self.server.rate
        began = time.monotonic()
        offset = start
        with target.open("rb") as source:
            try:
                while offset < stop:
                    count = self.connection.sendfile(source, offset, min(SLICE, stop - offset))
                    if not count:
                        break
                    offset += count
                    with self.server.lock:
                        self.server.sent[path] += count
                    if rate:
                        ahead = (offset - start) / rate - (time.monotonic() - began)
                        if ahead > 0:
                            time.sleep(ahead)
            except (BrokenPipeError, ConnectionResetError):
                pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, rate: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root.resolve()
        self.rate = rate
        self.sent: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()


def start(root: Path, rate_mbps: float = 0.0) -> tuple[Server, str]:
    """Serve `root` in a thread; returns the server and its base URL."""
    server = Server(root, rate_mbps * 1e6)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--rate", type=float, default=0.0, help="MB/s per connection (0: no limit)")
    args = parser.parse_args()
    server, url = start(args.root, args.rate)
    print(url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
