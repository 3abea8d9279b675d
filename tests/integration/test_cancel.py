"""Cancelling one job: its downloads stop at once, another job of the same process goes on.

A long-running process (the mirror, a future page) runs several jobs; each has its own
`CancelToken`. Real downloads from a local server that trickles, one client shared by both.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeferry.download.engine import DownloadJob, DownloadResult, download, part_path
from kubeferry.jobs.cancel import CancelToken, TransferCancelled
from kubeferry.jobs.parallel import run_parallel
from kubeferry.transport import http
from tests.support.upstream import Fault, LocalUpstream

SIZE = 2 * 1024 * 1024 + 5
DATA = {
    name: bytes((i * seed + i // 253) % 256 for i in range(SIZE))
    for name, seed in (("a.bin", 7), ("b.bin", 11))
}


@pytest.fixture
def server() -> Iterator[LocalUpstream]:
    """Both files trickle: 64 KiB every 0.1 s, so each download takes about 3 s."""
    with LocalUpstream() as up:
        for name, data in DATA.items():
            up.state.files[f"/files/{name}"] = data
            up.state.faults[f"/files/{name}"] = Fault(chunk_size=64 * 1024, delay_per_chunk=0.1)
        yield up


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with http.open_client(read_timeout=10) as c:
        yield c


def _job(server: LocalUpstream, folder: Path, name: str) -> DownloadJob:
    digest = hashlib.sha256(DATA[name]).hexdigest()
    return DownloadJob(f"{server.url}/files/{name}", folder / name, sha256=digest)


class Outcome:
    """What a download thread ended with, and when."""

    def __init__(self) -> None:
        self.result: DownloadResult | None = None
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self.at = 0.0
        self.started = threading.Event()

    def progress(self, done: int, total: int | None) -> None:
        if done:
            self.started.set()

    def run(self, work: Callable[[], Any]) -> threading.Thread:
        def target() -> None:
            try:
                self.result = work()
            except BaseException as exc:  # the test looks at it
                self.error = exc
            finally:
                self.at = time.monotonic()
                self.ended.set()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread


def test_cancelling_one_download_stops_it_and_the_other_completes(
    server: LocalUpstream, client: httpx.Client, tmp_path: Path
) -> None:
    tokens = {"a.bin": CancelToken(), "b.bin": CancelToken()}
    outcomes = {name: Outcome() for name in tokens}
    for name, outcome in outcomes.items():
        job = _job(server, tmp_path, name)
        outcome.run(
            lambda job=job, outcome=outcome, token=tokens[job.destination.name]: download(
                client, job, progress=outcome.progress, cancel=token
            )
        )
    assert outcomes["a.bin"].started.wait(10) and outcomes["b.bin"].started.wait(10)

    cancelled_at = time.monotonic()
    tokens["a.bin"].cancel()

    a, b = outcomes["a.bin"], outcomes["b.bin"]
    assert a.ended.wait(5)
    assert isinstance(a.error, TransferCancelled), a.error
    assert a.at - cancelled_at < 1.0
    assert part_path(tmp_path / "a.bin").stat().st_size > 0  # kept for the next run
    assert not (tmp_path / "a.bin").exists()
    assert not b.ended.is_set()  # the other job was still running when this one stopped

    assert b.ended.wait(30)
    assert b.error is None and b.result is not None
    assert b.result.sha256 == hashlib.sha256(DATA["b.bin"]).hexdigest()
    assert (tmp_path / "b.bin").read_bytes() == DATA["b.bin"]
    assert not tokens["b.bin"].cancelled


def test_cancelling_one_pool_leaves_another_pool_running(
    server: LocalUpstream, client: httpx.Client, tmp_path: Path
) -> None:
    """Two pools (two jobs), each with two downloads; the first job's token is cancelled."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first, second = CancelToken(), CancelToken()
    outcomes = {"one": Outcome(), "two": Outcome()}

    def pool(folder: Path, token: CancelToken, outcome: Outcome) -> list[DownloadResult]:
        tasks = [
            lambda name=name: download(
                client, _job(server, folder, name), progress=outcome.progress, cancel=token
            )
            for name in DATA
        ]
        return run_parallel(tasks, workers=2, cancel=token)

    outcomes["one"].run(lambda: pool(tmp_path / "one", first, outcomes["one"]))
    outcomes["two"].run(lambda: pool(tmp_path / "two", second, outcomes["two"]))
    assert outcomes["one"].started.wait(10) and outcomes["two"].started.wait(10)

    cancelled_at = time.monotonic()
    first.cancel()
    one, two = outcomes["one"], outcomes["two"]
    assert one.ended.wait(5)
    assert isinstance(one.error, TransferCancelled), one.error
    assert one.at - cancelled_at < 1.0
    assert not two.ended.is_set()

    assert two.ended.wait(30)
    assert two.error is None and two.result is not None
    for result in two.result:
        assert result.job.destination.read_bytes() == DATA[result.job.destination.name]


def test_a_cancel_ends_the_pause_between_attempts(
    server: LocalUpstream, client: httpx.Client, tmp_path: Path
) -> None:
    """A 503 with `Retry-After: 30`: the retry would wait 30 s; the cancel ends it at once."""
    server.state.faults["/files/a.bin"] = Fault(fail_status=503, fail_times=5, retry_after="30")
    token, outcome = CancelToken(), Outcome()
    outcome.run(lambda: download(client, _job(server, tmp_path, "a.bin"), cancel=token))
    deadline = time.monotonic() + 10
    while not server.state.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # into the pause
    cancelled_at = time.monotonic()
    token.cancel()
    assert outcome.ended.wait(5)
    assert isinstance(outcome.error, TransferCancelled), outcome.error
    assert outcome.at - cancelled_at < 1.0
