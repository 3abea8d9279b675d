"""`kubeferry mirror serve` under attack (issue 22), small and fast: the full-size runs are
`benchmarks/mirror_attacks.py`. Real processes, real sockets, curl as the judge of HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, child_environment
from tests.support import attacks
from tests.support.mirror import MirrorProcess, curl, header

FILE_URL = f"{attacks.DOWNLOAD}/{attacks.BIG}"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    attacks.attack_bundle(folder, 8)
    return folder


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return child_environment(home)


@pytest.fixture
def mirror(bundle: Path, tmp_path: Path) -> Iterator[MirrorProcess]:
    with MirrorProcess(_env(tmp_path), bundle) as served:
        yield served


def _address(mirror: MirrorProcess) -> tuple[str, int]:
    host, port = mirror.base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def test_folder_swap_loop_never_sends_bytes_from_outside(
    mirror: MirrorProcess, bundle: Path, tmp_path: Path
) -> None:
    host, port = _address(mirror)
    report = attacks.swap_attack(host, port, bundle, tmp_path / "outside", requests=400)
    assert report.requests == 400
    assert report.outside_bytes == 0 and report.other_bodies == 0, report
    assert set(report.statuses) <= {200, 503}, report.statuses
    assert report.verified_bodies > 0, report  # the real folder was there some of the time
    assert mirror.stop() == 0
    assert "Traceback" not in mirror.stderr
    refusals = [line for line in mirror.stderr_lines if "refusing" in line]
    assert 1 <= len(refusals) <= 3, refusals  # one line per kind of refusal per 10 s


def test_bytes_changed_in_place_never_reach_a_complete_answer(
    mirror: MirrorProcess, bundle: Path
) -> None:
    path = bundle / "k3s" / attacks.TAG / attacks.BIG
    host, port = _address(mirror)
    report = attacks.in_place_attack(
        host, port, FILE_URL, path, 6, seconds_each=3.0, first_change=1.0, every=0.7, stagger=0.4
    )
    assert report.changes >= 3 and report.complete_wrong == 0, report
    assert report.complete_right >= 3, report  # those begun before the change: the verified copy
    assert report.complete_right + report.refused == 6, report
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    before = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    refused = curl("-o", "-", "-w", "\n%{http_code}", mirror.base + FILE_URL, check=False)
    assert refused.stdout.endswith(b"503") and len(refused.stdout) < 1000
    assert b"does not match" in refused.stdout and str(bundle).encode() not in refused.stdout
    assert mirror.stop() == 0
    assert "Traceback" not in mirror.stderr


def test_a_missing_file_is_503_not_404(mirror: MirrorProcess, bundle: Path) -> None:
    (bundle / "k3s" / attacks.TAG / attacks.BIG).unlink()
    code = curl("-o", os.devnull, "-w", "%{http_code}", mirror.base + FILE_URL, check=False)
    assert code.stdout.decode() == "503"


def test_idle_and_half_sent_connections_under_a_low_cap(bundle: Path, tmp_path: Path) -> None:
    """With 180 open files allowed the cap is about 47: 80 connections that send nothing or part
    of a header close the longest-idle ones, the header deadline (10 s) closes the rest, and a
    normal client is answered at once throughout."""
    with MirrorProcess(_env(tmp_path), bundle, open_files=180) as mirror:
        host, port = _address(mirror)
        report = attacks.idle_attack(host, port, connections=80, seconds=11.5)
        assert mirror.stop() == 0
    # Past the cap each new connection closes the one idle the longest; under a full machine a
    # normal client's fresh connection can, rarely, be that one before its request is read
    # (seen once in 22): it is answered on its one retry, still within the second.
    assert report.probes >= 8 and report.probe_failures == 0, report
    assert report.probe_retries <= report.probes // 8, report
    assert report.slowest_probe < 1.0, report
    assert report.closed_by_server >= 80, report  # evicted past the cap, then timed out
    assert "Traceback" not in mirror.stderr and len(mirror.stderr) < 20_000


def test_host_header_is_never_copied_into_links(bundle: Path, tmp_path: Path) -> None:
    channel = "/update.k3s.io/v1-release/channels"
    with MirrorProcess(_env(tmp_path), bundle, extra=("--public-name", "mirror.lan")) as mirror:
        port = mirror.base.rsplit(":", 1)[1]
        evil = curl("-H", "Host: evil.example", "-o", "-", mirror.base + "/").stdout
        assert b"evil.example" not in evil and mirror.base.encode() in evil
        listed = curl("-H", f"Host: mirror.lan:{port}", mirror.base + channel).stdout
        assert json.loads(listed)["links"]["self"] == f"http://mirror.lan:{port}{channel}"
        other = curl("-H", "Host: evil.example", mirror.base + channel).stdout
        assert json.loads(other)["links"]["self"] == mirror.base + channel
    public = "https://mirror.example.org/kf"
    with MirrorProcess(_env(tmp_path), bundle, extra=("--public-url", public)) as mirror:
        assert mirror.lines[0] == f"serving at {mirror.base}/ (links point at {public}/)"
        assert mirror.lines[1].startswith(f"KUBEFERRY_MIRROR={public} ")
        listed = curl("-H", "Host: evil.example", mirror.base + channel).stdout
        assert json.loads(listed)["links"]["self"] == public + channel


def test_index_page_names_bundles_without_server_paths(mirror: MirrorProcess, bundle: Path) -> None:
    page = curl("-f", mirror.base + "/").stdout.decode()
    digest = hashlib.sha256((bundle / "kubeferry-bundle.json").read_bytes()).hexdigest()
    assert digest in page and "2026-12-01" in page and attacks.TAG in page
    assert str(bundle) not in page and str(bundle.parent) not in page


def test_range_and_if_range_per_rfc_9110(
    mirror: MirrorProcess, bundle: Path, tmp_path: Path
) -> None:
    url = mirror.base + FILE_URL
    data = (bundle / "k3s" / attacks.TAG / attacks.BIG).read_bytes()
    size = len(data)

    def get(*args: str) -> tuple[str, bytes, bytes]:
        done = curl("-D", str(tmp_path / "h"), "-o", "-", "-w", "%{stderr}%{http_code}", *args, url)
        return done.stderr.decode(), (tmp_path / "h").read_bytes(), done.stdout

    code, head, body = get("-H", "Range: bytes=-0")
    assert code == "416" and header(head, "Content-Range") == f"bytes */{size}" and body == b""
    code, head, body = get("-H", "Range: bytes=-10")
    assert code == "206" and body == data[-10:]
    etag = header(head, "ETag")
    assert etag == f'"{hashlib.sha256(data).hexdigest()}"'
    code, _, body = get("-H", "Range: bytes=0-9", "-H", 'If-Range: "not-the-etag"')
    assert code == "200" and body == data
    code, _, body = get("-H", "Range: bytes=0-9", "-H", f"If-Range: {etag}")
    assert code == "206" and body == data[:10]
    code, _, body = get("-H", "Range: bytes=0-9", "-H", "If-Range: Tue, 01 Jan 2019 00:00:00 GMT")
    assert code == "200" and body == data
    code, _, body = get("-H", "Range: bytes=0-1,5-6")
    assert code == "200" and body == data
    assert mirror.stop() == 0
    logged = [line for line in mirror.stderr_lines if FILE_URL in line]
    sizes = [int(line.split('" ', 1)[1].split()[1]) for line in logged]
    assert sizes == [0, 10, size, 10, size, size], logged  # body bytes, never header bytes


def _raw(host: str, port: int, data: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_malformed_requests_get_400_and_one_line(mirror: MirrorProcess) -> None:
    host, port = _address(mirror)
    for request in (
        b"GARBAGE\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBAD REQUEST LINE\r\n\r\n",  # the second on a connection
    ):
        answer = _raw(host, port, request)
        assert b" 400 " in answer.split(b"\r\n", 1)[0] or b"\r\n\r\nHTTP/1.1 400" in answer.replace(
            b"HTTP/1.0 400", b"HTTP/1.1 400"
        ), (request[:40], answer[:200])
    time.sleep(0.2)
    assert mirror.stop() == 0
    assert "Traceback" not in mirror.stderr and "  File " not in mirror.stderr
    assert all(
        line.startswith(("kubeferry mirror: ", "127.0.0.1 ")) for line in mirror.stderr_lines
    )


def test_copies_dir_and_public_url_errors_are_clear(bundle: Path, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home", _env(tmp_path))
    missing = cli("mirror", "serve", str(bundle), "--copies-dir", str(tmp_path / "nowhere"))
    assert missing.code == 1 and "--copies-dir" in missing.stderr
    assert str(tmp_path / "nowhere") in missing.stderr and "Traceback" not in missing.stderr
    bad = cli("mirror", "serve", str(bundle), "--public-url", "mirror.lan:8080")
    assert bad.code == 2 and "--public-url" in bad.stderr


def test_copies_have_no_name_in_the_copies_dir(bundle: Path, tmp_path: Path) -> None:
    copies = tmp_path / "copies"
    copies.mkdir()
    with MirrorProcess(_env(tmp_path), bundle, extra=("--copies-dir", str(copies))) as mirror:
        got = curl("-f", mirror.base + FILE_URL).stdout
        assert got == (bundle / "k3s" / attacks.TAG / attacks.BIG).read_bytes()
        assert list(copies.iterdir()) == []  # O_TMPFILE: nothing anyone else could open
        assert mirror.stop() == 0
