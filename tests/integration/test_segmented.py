"""One large file over several connections from a real nginx: pieces, resume, a changed file.

nginx answers `Range` with 206 and `If-Range` with the whole file when the validator changed;
its access log shows each request's status and size, so the tests see what was really fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeferry.download import segmented
from kubeferry.download.engine import DownloadJob, download, part_path
from kubeferry.errors import ChecksumError, UnsafePathError
from kubeferry.jobs.cancel import CancelToken, TransferCancelled
from kubeferry.transport import http
from kubeferry.transport.policy import TransferPolicy
from tests.conftest import child_environment
from tests.support.interrupt import interrupt
from tests.support.nginx import Nginx, nginx_binary

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")
KUBECTL_PATH = "release/v1.31.9/bin/linux/amd64/kubectl"
SIZE = segmented.SEGMENT_THRESHOLD + 3 * segmented.PIECE_SIZE + 12345  # 12 pieces, last short


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Path, str]]:
    """A world-readable folder (nginx's workers are `nobody`) with one large random file."""
    folder = Path(tempfile.mkdtemp(prefix="kubeferry-segmented-"))
    folder.chmod(0o755)
    (folder / "www").mkdir(mode=0o755)
    data = os.urandom(SIZE)
    (folder / "www" / "big.bin").write_bytes(data)
    (folder / "www" / "big.bin").chmod(0o644)
    digest = hashlib.sha256(data).hexdigest()
    kubectl = folder / "www" / KUBECTL_PATH  # the same bytes as dl.k8s.io lays out kubectl
    kubectl.parent.mkdir(parents=True)
    os.link(folder / "www" / "big.bin", kubectl)
    (kubectl.parent / "kubectl.sha256").write_text(digest + "\n")
    for path in (folder / "www").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield folder, digest
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def web(served: tuple[Path, str], tmp_path: Path) -> Iterator[Nginx]:
    folder, _ = served
    with Nginx(folder / "www", folder / f"nginx-{tmp_path.name}") as server:
        yield server


@pytest.fixture
def limited(served: tuple[Path, str], tmp_path: Path) -> Iterator[Nginx]:
    """nginx limiting each connection to 20 MB/s, as many mirrors and proxies do."""
    folder, _ = served
    snippet = folder / f"limit-{tmp_path.name}.conf"
    snippet.write_text("limit_rate 20m;\n")
    with Nginx(folder / "www", folder / f"nginx-{tmp_path.name}", snippet) as server:
        yield server


def _statuses(web: Nginx) -> list[tuple[int, int]]:
    """(status, body bytes) of each GET in the access log."""
    lines = [
        line for line in (web.prefix / "access.log").read_text().splitlines() if '"GET ' in line
    ]
    return [
        (int(line.split('" ')[1].split()[0]), int(line.split('" ')[1].split()[1])) for line in lines
    ]


def _get(web: Nginx, destination: Path, digest: str, connections: int):
    with http.open_client() as client:
        job = DownloadJob(f"{web.url}/big.bin", destination, sha256=digest)
        return download(client, job, connections=connections)


def test_a_slow_connection_gets_helpers(limited, served, tmp_path) -> None:
    _, digest = served
    result = _get(limited, tmp_path / "big.bin", digest, connections=4)
    assert hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest() == digest
    assert result.sha256 == digest and result.fetched == SIZE
    requests = _statuses(limited)
    assert [status for status, _ in requests].count(200) == 1  # the first answer leads
    pieces = [size for status, size in requests if status == 206]
    assert len(pieces) >= 3  # helpers took pieces from the back, whole pieces each
    assert all(size in (segmented.PIECE_SIZE, SIZE % segmented.PIECE_SIZE) for size in pieces)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "big.bin"]
    assert leftovers == []


def test_a_fast_connection_is_left_alone(web, served, tmp_path, monkeypatch) -> None:
    """Above FAST_ENOUGH one connection does it all (set to 1 B/s so any machine is fast)."""
    monkeypatch.setattr(segmented, "FAST_ENOUGH", 1)
    _, digest = served
    result = _get(web, tmp_path / "big.bin", digest, connections=4)
    assert result.sha256 == digest and result.fetched == SIZE
    assert [status for status, _ in _statuses(web)] == [200]


def test_one_connection_is_one_request(web, served, tmp_path) -> None:
    _, digest = served
    _get(web, tmp_path / "big.bin", digest, connections=1)
    assert [s for s, _ in _statuses(web)] == [200]


def _interrupted(web: Nginx, destination: Path, served_file: Path, done: list[int], validator):
    """A part file holding pieces `done`, as a killed run leaves it, with its pieces state."""
    data = served_file.read_bytes()
    part = part_path(destination)
    with part.open("wb") as stream:
        for index in done:
            start = index * segmented.PIECE_SIZE
            stream.seek(start)
            stream.write(data[start : start + segmented.PIECE_SIZE])
    state = {
        "url": f"{web.url}/big.bin",
        "size": SIZE,
        "validator": validator,
        "piece": segmented.PIECE_SIZE,
        "done": done,
    }
    segmented.state_path(destination).write_text(json.dumps(state))


def _etag(web: Nginx) -> str:
    return httpx.head(f"{web.url}/big.bin").headers["ETag"]


def test_resume_fetches_only_the_missing_pieces(web, served, tmp_path) -> None:
    folder, digest = served
    destination = tmp_path / "big.bin"
    _interrupted(web, destination, folder / "www" / "big.bin", [0, 1, 5], _etag(web))
    result = _get(web, destination, digest, connections=3)
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == digest
    assert result.fetched == SIZE - 3 * segmented.PIECE_SIZE
    requests = _statuses(web)
    assert all(status == 206 for status, _ in requests)
    assert len(requests) == -(-SIZE // segmented.PIECE_SIZE) - 3
    assert not segmented.state_path(destination).exists()


def test_kept_pieces_with_wrong_bytes_start_over_once(web, served, tmp_path) -> None:
    """A resume whose kept pieces are not the server's bytes (say a power cut lost them) fails
    the whole file's digest; the bad bytes are deleted and the file is fetched once more, whole."""
    folder, digest = served
    destination = tmp_path / "big.bin"
    _interrupted(web, destination, folder / "www" / "big.bin", [0, 1], _etag(web))
    with part_path(destination).open("r+b") as stream:
        stream.write(b"\0" * 4096)  # piece 0 is listed as done but does not hold those bytes
    result = _get(web, destination, digest, connections=2)
    assert result.sha256 == digest
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == digest
    requests, missing = _statuses(web), -(-SIZE // segmented.PIECE_SIZE) - 2
    assert [status for status, _ in requests[:missing]] == [206] * missing  # the resume
    assert (200, SIZE) in requests[missing:]  # then once more from nothing


def test_a_changed_file_starts_over(web, served, tmp_path) -> None:
    folder, digest = served
    destination = tmp_path / "big.bin"
    _interrupted(web, destination, folder / "www" / "big.bin", [0, 1], '"not-the-etag"')
    result = _get(web, destination, digest, connections=2)
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == digest
    assert result.sha256 == digest
    assert _statuses(web)[0][0] == 200  # If-Range failed: nginx sent the whole (new) file


def test_wrong_digest_keeps_nothing(web, served, tmp_path) -> None:
    destination = tmp_path / "big.bin"
    with pytest.raises(ChecksumError) as caught:
        _get(web, destination, "0" * 64, connections=4)
    assert "expected 000" in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == []


class _NoRanges(SimpleHTTPRequestHandler):
    """Python's file server: no Accept-Ranges, ignores Range."""

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_without_ranges_gets_one_connection(served, tmp_path) -> None:
    folder, digest = served
    seen: list[str | None] = []

    class Handler(_NoRanges):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(folder / "www"), **kwargs)

        def do_GET(self) -> None:
            seen.append(self.headers.get("Range"))
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/big.bin"
        with http.open_client() as client:
            download(client, DownloadJob(url, tmp_path / "big.bin", sha256=digest), connections=4)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [None]
    assert hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest() == digest


def test_a_killed_download_resumes_with_the_missing_pieces(limited, served, tmp_path) -> None:
    """`kubectl get` killed (-9) while pieces arrive, then run again: only missing pieces."""
    _, digest = served
    home = tmp_path / "home"
    home.mkdir()
    env = {**child_environment(home), "KUBEFERRY_KUBECTL_MIRROR_URL": limited.url}
    command = [sys.executable, "-m", "kubeferry", "kubectl", "get", "1.31.9", "--arch", "amd64"]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    folder = home / ".kuberlr" / "linux-amd64"
    state = segmented.state_path(folder / "kubectl1.31.9")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_done(state)) < 2:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL, stderr
    kept, saved = _done(state), json.loads(state.read_text())
    assert len(kept) >= 2 and (folder / ".kubectl1.31.9.part").exists()
    begun = {int(i): end for i, end in saved["partial"].items()}  # pieces under way, kept too
    kept_bytes = sum(
        min(SIZE, (i + 1) * segmented.PIECE_SIZE) - i * segmented.PIECE_SIZE for i in kept
    )
    kept_bytes += sum(end - i * segmented.PIECE_SIZE for i, end in begun.items())
    before = _settled_count(limited)  # nginx logs the killed requests when it notices the close
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert hashlib.sha256((folder / "kubectl1.31.9").read_bytes()).hexdigest() == digest
    pieces = -(-SIZE // segmented.PIECE_SIZE)
    second_run = _statuses(limited)[before:]
    assert [s for s, _ in second_run if s == 200] == [200]  # the .sha256 file, not the binary
    assert len([s for s, _ in second_run if s == 206]) <= pieces - len(kept)
    # Exactly the bytes not kept: begun pieces continue where they stopped, none fetched twice.
    assert sum(size for s, size in second_run if s == 206) == SIZE - kept_bytes
    assert not state.exists()


def _settled_count(server: Any) -> int:
    """The number of access-log lines once it stopped growing (at most about 5 s)."""
    count = len(_statuses(server))
    for _ in range(25):
        time.sleep(0.2)
        now = len(_statuses(server))
        if now == count:
            return count
        count = now
    return count


def _done(state: Path) -> list[int]:
    try:
        return json.loads(state.read_text())["done"]
    except (OSError, ValueError, KeyError):
        return []


def test_a_planted_link_is_never_written_through(web, served, tmp_path) -> None:
    _, digest = served
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    destination = tmp_path / "big.bin"
    segmented.state_path(destination).write_text(
        json.dumps(
            {
                "url": f"{web.url}/big.bin",
                "size": SIZE,
                "validator": None,
                "piece": segmented.PIECE_SIZE,
                "done": [],
            }
        )
    )
    part_path(destination).symlink_to(victim)
    with pytest.raises(UnsafePathError) as caught:
        _get(web, destination, digest, connections=4)
    assert "link" in caught.value.message
    assert victim.read_bytes() == b"keep me"


def test_a_dropped_lead_is_continued_from_its_last_byte(served, tmp_path) -> None:
    """The first answer drops midway through a piece: a helper asks for the rest of that piece
    only (the bytes before were already hashed and are never rewritten)."""
    folder, digest = served
    data = (folder / "www" / "big.bin").read_bytes()
    drop_at = 3 * segmented.PIECE_SIZE + 12345
    with (
        _PieceServer(data, digest, stall=0, drop_lead_at=drop_at) as server,
        http.open_client() as client,
    ):
        job = DownloadJob(f"{server.url}/big.bin", tmp_path / "big.bin", sha256=digest)
        result = download(client, job, connections=2)
    ranges = server.ranges
    assert result.sha256 == digest
    assert hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest() == digest
    assert ranges[0] is None
    assert f"bytes={drop_at}-{4 * segmented.PIECE_SIZE - 1}" in ranges
    assert f"bytes={3 * segmented.PIECE_SIZE}-{4 * segmented.PIECE_SIZE - 1}" not in ranges


class _PieceServer(ThreadingHTTPServer):
    """Serves `data` with ranges; the lead (no Range) at `lead_rate` bytes/s, dropped after
    `drop_lead_at` bytes if given; the first `stall` ranged answers send their headers and a few
    bytes, then nothing (a stalled piece). `ranges`: "as asked", "to the end" (each range runs
    to the end of the file) or "from the start" (each range starts at 0)."""

    daemon_threads = True

    def __init__(
        self,
        data: bytes,
        digest: str,
        *,
        stall: int,
        lead_rate: float = 0.0,
        drop_lead_at: int | None = None,
        ranges: str = "as asked",
    ) -> None:
        self.data, self.digest, self.lead_rate, self.stall = data, digest, lead_rate, stall
        self.drop_lead_at, self.range_answers = drop_lead_at, ranges
        self.ranges: list[str | None] = []
        self.peers: list[tuple[str, int]] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.endswith(".sha256"):
                    body = (server.digest + "\n").encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                server.serve(self)

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        wanted = handler.headers.get("Range")
        self.ranges.append(wanted)
        self.peers.append(handler.client_address)
        start, end = 0, len(self.data) - 1
        if wanted:
            first, last = wanted.removeprefix("bytes=").split("-")
            start, end = int(first), int(last)
            if self.range_answers == "to the end":  # legal enough: more than was asked
                end = len(self.data) - 1
            elif self.range_answers == "from the start":  # unusable: not what was asked
                start = 0
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{end}/{len(self.data)}")
        else:
            handler.send_response(200)
        handler.send_header("Content-Length", str(end + 1 - start))
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("ETag", '"same"')
        handler.end_headers()
        if wanted and len([r for r in self.ranges if r]) <= self.stall:
            handler.wfile.write(self.data[start : start + 100])
            handler.wfile.flush()
            self.release.wait(120)  # stalls until the test ends
            return
        step, stop = 1 << 20, end + 1
        if not wanted and self.drop_lead_at is not None:
            stop = self.drop_lead_at
            handler.close_connection = True  # drops the first answer midway
        for position in range(start, stop, step):
            handler.wfile.write(self.data[position : min(stop, position + step)])
            if not wanted and self.lead_rate:
                time.sleep(step / self.lead_rate)

    def __enter__(self) -> _PieceServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


def test_a_stalled_piece_is_tried_again(served, tmp_path, monkeypatch) -> None:
    """A helper whose answer stops is caught by the low-speed watch (1 s here) and its piece is
    asked for again, long before the 30 s read timeout would notice."""
    monkeypatch.setattr(segmented, "FAST_ENOUGH", 10**15)  # helpers join on any machine
    folder, digest = served
    data = (folder / "www" / "big.bin").read_bytes()
    policy = TransferPolicy(speed_limit=1024, speed_time=1.0)
    with _PieceServer(data, digest, lead_rate=40e6, stall=1) as server:
        began = time.monotonic()
        with http.open_client(policy=policy) as client:
            job = DownloadJob(f"{server.url}/big.bin", tmp_path / "big.bin", sha256=digest)
            result = download(client, job, connections=2)
        elapsed = time.monotonic() - began
    assert result.sha256 == digest
    stalled = next(r for r in server.ranges if r)
    assert server.ranges.count(stalled) == 2  # the stalled piece, asked for again
    assert elapsed < 20, elapsed  # the watch, not the 30 s read timeout, ended the stall


def test_ctrl_c_stops_a_download_in_pieces_at_once(served, tmp_path) -> None:
    """Helpers blocked on stalled answers are woken: exit 130 at once, the pieces state kept."""
    folder, digest = served
    data = (folder / "www" / "big.bin").read_bytes()
    home = tmp_path / "home"
    home.mkdir()
    with _PieceServer(data, digest, lead_rate=20e6, stall=100) as server:
        env = {**child_environment(home), "KUBEFERRY_KUBECTL_MIRROR_URL": server.url}
        command = [sys.executable, "-m", "kubeferry", "kubectl", "get", "1.31.9", "--arch", "amd64"]
        child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len([r for r in server.ranges if r]) < 3:
            time.sleep(0.05)  # the lead was slow: three helpers wait on stalled pieces
        ended = interrupt(child, guard=20)
    assert ended.returncode == 130, ended.stderr
    assert "resume" in ended.stderr and "Traceback" not in ended.stderr
    assert ended.seconds < 5, ended.seconds  # not the 30 s the blocked reads would wait
    folder = home / ".kuberlr" / "linux-amd64"
    assert _done(segmented.state_path(folder / "kubectl1.31.9")) != []  # the lead's pieces
    assert (folder / ".kubectl1.31.9.part").exists()


@pytest.mark.parametrize("answers", ["to the end", "from the start"])
def test_a_server_that_answers_other_ranges(served, tmp_path, monkeypatch, answers) -> None:
    """Ranges that run past the piece are cut where the piece ends (each piece still comes over
    its own connection); ranges that start elsewhere make the file start over on one connection,
    instead of failing every attempt."""
    monkeypatch.setattr(segmented, "FAST_ENOUGH", 10**15)  # helpers join on any machine
    folder, digest = served
    data = (folder / "www" / "big.bin").read_bytes()
    with (
        _PieceServer(data, digest, stall=0, lead_rate=40e6, ranges=answers) as server,
        http.open_client() as client,
    ):
        job = DownloadJob(f"{server.url}/big.bin", tmp_path / "big.bin", sha256=digest)
        result = download(client, job, connections=3)
    assert result.sha256 == digest
    assert hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest() == digest
    leads = [r for r in server.ranges if r is None]
    if answers == "to the end":
        assert len(leads) == 1 and len(server.ranges) > 2  # one lead, helpers took pieces
    else:
        assert len(leads) == 2  # the first try in pieces, then the whole file on one connection
        assert server.ranges[-1] is None


def test_pieces_reuse_their_connections(served, tmp_path, monkeypatch) -> None:
    """Each helper keeps its connection from piece to piece (no handshake per 8 MiB)."""
    monkeypatch.setattr(segmented, "FAST_ENOUGH", 10**15)  # helpers join on any machine
    folder, digest = served
    data = (folder / "www" / "big.bin").read_bytes()
    with (
        _PieceServer(data, digest, stall=0, lead_rate=40e6) as server,
        http.open_client() as client,
    ):
        job = DownloadJob(f"{server.url}/big.bin", tmp_path / "big.bin", sha256=digest)
        assert download(client, job, connections=3).sha256 == digest
    pieces = [peer for peer, wanted in zip(server.peers, server.ranges, strict=True) if wanted]
    assert len(pieces) >= 4
    assert len(set(pieces)) <= 2  # two helpers, one connection each


def test_cancelling_one_download_in_pieces_leaves_the_other(limited, served, tmp_path) -> None:
    """Two downloads in pieces in one process (20 MB/s per connection: helpers join); one job's
    token is cancelled: its lead and helpers stop within a second, the other one completes."""
    _, digest = served
    tokens = {name: CancelToken() for name in ("a", "b")}
    ended: dict[str, tuple[float, object]] = {}
    begun = {name: threading.Event() for name in tokens}

    def fetch(name: str, client: httpx.Client) -> None:
        def progress(done: int, total: int | None) -> None:
            if done > segmented.PIECE_SIZE:
                begun[name].set()

        job = DownloadJob(f"{limited.url}/big.bin", tmp_path / name / "big.bin", sha256=digest)
        try:
            outcome: object = download(
                client, job, connections=4, progress=progress, cancel=tokens[name]
            )
        except BaseException as exc:  # the test looks at it
            outcome = exc
        ended[name] = (time.monotonic(), outcome)

    with http.open_client() as client:
        threads = [threading.Thread(target=fetch, args=(n, client), daemon=True) for n in tokens]
        for thread in threads:
            thread.start()
        assert begun["a"].wait(30) and begun["b"].wait(30)
        cancelled_at = time.monotonic()
        tokens["a"].cancel()
        threads[0].join(5)
        assert "a" in ended
        at, outcome = ended["a"]
        assert isinstance(outcome, TransferCancelled), outcome
        assert at - cancelled_at < 1.0
        threads[1].join(60)
    _, result = ended["b"]
    assert getattr(result, "sha256", None) == digest, result
    assert hashlib.sha256((tmp_path / "b" / "big.bin").read_bytes()).hexdigest() == digest
    assert segmented.state_path(tmp_path / "a" / "big.bin").is_file()  # pieces kept to resume
