"""The download engine against a real local server that misbehaves on purpose."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from kubeferry.download.engine import DownloadJob, RetryPolicy, download, part_path
from kubeferry.errors import ChecksumError, NotFoundError, UpstreamError
from kubeferry.jobs.parallel import run_parallel
from kubeferry.transport import http
from tests.support.upstream import Fault, LocalUpstream

SIZE = 3 * 1024 * 1024 + 17
DATA = bytes((i * 7 + i // 251) % 256 for i in range(SIZE))
SHA256 = hashlib.sha256(DATA).hexdigest()
PATH = "/files/big.bin"


@pytest.fixture
def server() -> LocalUpstream:
    with LocalUpstream() as up:
        up.state.files[PATH] = DATA
        yield up


@pytest.fixture
def client():
    with http.open_client(read_timeout=10) as c:
        yield c


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def job(server: LocalUpstream, tmp_path: Path, sha256: str | None = SHA256) -> DownloadJob:
    return DownloadJob(f"{server.url}{PATH}", tmp_path / "big.bin", sha256=sha256)


def _partial(tmp_path: Path, length: int, validator: str | None, url: str) -> Path:
    part = part_path(tmp_path / "big.bin")
    part.write_bytes(DATA[:length])
    if validator:
        meta = tmp_path / ".big.bin.part.json"
        meta.write_text(json.dumps({"url": url, "validator": validator}))
    return part


def test_plain_download_is_verified_and_leaves_no_part(server, client, tmp_path) -> None:
    result = download(client, job(server, tmp_path))
    assert (tmp_path / "big.bin").read_bytes() == DATA
    assert result.sha256 == SHA256 and result.fetched == SIZE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


def test_resume_fetches_only_the_remainder(server, client, tmp_path) -> None:
    _partial(tmp_path, SIZE // 2, f'"{SIZE}"', f"{server.url}{PATH}")
    result = download(client, job(server, tmp_path))
    assert result.resumed_from == SIZE // 2
    assert server.state.bytes_sent[PATH] == SIZE - SIZE // 2
    _, _, headers = server.state.requests[-1]
    assert headers["Range"] == f"bytes={SIZE // 2}-" and headers["If-Range"] == f'"{SIZE}"'
    assert (tmp_path / "big.bin").read_bytes() == DATA


def test_server_ignoring_range_starts_over(server, client, tmp_path) -> None:
    server.state.faults[PATH] = Fault(ignore_range=True)
    _partial(tmp_path, SIZE // 2, None, f"{server.url}{PATH}")
    result = download(client, job(server, tmp_path))
    assert result.resumed_from == 0 and server.state.bytes_sent[PATH] == SIZE
    assert (tmp_path / "big.bin").read_bytes() == DATA


def test_changed_validator_starts_over(server, client, tmp_path) -> None:
    _partial(tmp_path, SIZE // 2, '"an-older-file"', f"{server.url}{PATH}")
    download(client, job(server, tmp_path))
    assert server.state.bytes_sent[PATH] == SIZE
    assert (tmp_path / "big.bin").read_bytes() == DATA


def test_dropped_connection_is_resumed(server, client, tmp_path) -> None:
    server.state.faults[PATH] = Fault(drop_after=1_000_000, drop_times=1)
    sleeps = Sleeps()
    result = download(client, job(server, tmp_path), sleep=sleeps)
    assert (tmp_path / "big.bin").read_bytes() == DATA
    assert result.resumed_from == 1_000_000
    assert server.state.bytes_sent[PATH] == SIZE  # nothing fetched twice
    assert sleeps == [0.5]


def test_flipped_byte_is_refused_and_deleted(server, client, tmp_path) -> None:
    server.state.faults[PATH] = Fault(flip_byte_at=12345)
    with pytest.raises(ChecksumError) as info:
        download(client, job(server, tmp_path))
    message = str(info.value)
    assert PATH in message and SHA256 in message and "deleted" in message
    assert info.value.expected == SHA256 and info.value.actual != SHA256
    assert list(tmp_path.iterdir()) == []


def test_503_then_200_is_retried_with_backoff(server, client, tmp_path) -> None:
    server.state.faults[PATH] = Fault(fail_status=503, fail_times=2)
    sleeps = Sleeps()
    download(client, job(server, tmp_path), sleep=sleeps)
    assert sleeps == [0.5, 1.0]
    assert (tmp_path / "big.bin").read_bytes() == DATA


def test_404_is_not_retried(server, client, tmp_path) -> None:
    server.state.faults[PATH] = Fault(status=404)
    sleeps = Sleeps()
    with pytest.raises(NotFoundError, match="404"):
        download(client, job(server, tmp_path), sleep=sleeps)
    assert sleeps == [] and len(server.state.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_giving_up_keeps_the_partial_file_for_resume(server, client, tmp_path) -> None:
    server.state.faults[PATH] = Fault(drop_after=100_000)
    with pytest.raises(UpstreamError, match="run the same command again to resume"):
        download(client, job(server, tmp_path), retry=RetryPolicy(attempts=3), sleep=Sleeps())
    assert not (tmp_path / "big.bin").exists()
    assert part_path(tmp_path / "big.bin").stat().st_size == 300_000


def test_resumed_file_that_does_not_hash_starts_over_once(server, client, tmp_path) -> None:
    part = _partial(tmp_path, SIZE // 2, f'"{SIZE}"', f"{server.url}{PATH}")
    part.write_bytes(b"\0" * (SIZE // 2))  # the start on disk is garbage
    download(client, job(server, tmp_path))
    assert (tmp_path / "big.bin").read_bytes() == DATA
    assert server.state.bytes_sent[PATH] == SIZE - SIZE // 2 + SIZE


def test_keep_existing_skips_a_verified_file(server, client, tmp_path) -> None:
    (tmp_path / "big.bin").write_bytes(DATA)
    result = download(client, job(server, tmp_path), keep_existing=True)
    assert result.skipped and server.state.requests == []


def test_parallel_results_keep_input_order(server, client, tmp_path) -> None:
    names = ["a", "b", "c"]
    for index, name in enumerate(names):
        server.state.files[f"/files/{name}"] = DATA[index:]
    jobs = [
        DownloadJob(
            f"{server.url}/files/{n}", tmp_path / n, sha256=hashlib.sha256(DATA[i:]).hexdigest()
        )
        for i, n in enumerate(names)
    ]
    results = run_parallel([lambda job=job: download(client, job) for job in jobs], workers=3)
    assert [r.job.destination.name for r in results] == names
    assert all((tmp_path / n).read_bytes() == DATA[i:] for i, n in enumerate(names))


def test_dead_server_is_a_clear_error(client, tmp_path) -> None:
    dead = DownloadJob("http://127.0.0.1:9/x", tmp_path / "x")
    with pytest.raises(UpstreamError, match=r"127\.0\.0\.1:9/x"):
        download(client, dead, retry=RetryPolicy(attempts=2), sleep=Sleeps())
    assert not (tmp_path / "x").exists()
