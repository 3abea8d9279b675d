"""Network failures through the real CLI against the local upstream: two runs at once, a
trickling server, Retry-After, an https -> http redirect, Ctrl-C, a full disk, and messages
that are true."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.apiserver import Pki
from tests.support.interrupt import interrupt
from tests.support.k3s import ReleaseFiles, release_files, serve_release
from tests.support.sample import STABLE as BUNDLE_TAG
from tests.support.sample import sample_upstream
from tests.support.upstream import Fault, LocalUpstream

STABLE = "v1.33.3+k3s1"  # `stable` in the embedded catalog


@pytest.fixture
def release() -> ReleaseFiles:
    return release_files(STABLE, "amd64", images_size=400_000)


@pytest.fixture
def server(release: ReleaseFiles) -> LocalUpstream:
    with LocalUpstream() as up:
        serve_release(up.state.files, release)
        yield up


def _path(name: str) -> str:
    return f"/k3s/{STABLE}/{name}"


def _start(cli: Cli, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubeferry", *args],
        env={**cli.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _wait_for(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _lock_holder(folder: Path) -> str:
    try:
        return (folder / ".kubeferry.lock").read_text().split()[0]
    except (OSError, IndexError):
        return ""


def _assert_cached(cli: Cli, release: ReleaseFiles) -> None:
    folder = cli.cache_dir / "k3s" / STABLE
    for name in (release.assets.binary, release.assets.sums, release.assets.images[0]):
        assert (folder / name).read_bytes() == release.files[name], name


def test_two_cache_adds_at_once_one_waits_and_both_succeed(
    cli: Cli, server: LocalUpstream, release: ReleaseFiles
) -> None:
    server.state.faults[_path(release.assets.images[0])] = Fault(
        chunk_size=16 * 1024, delay_per_chunk=0.05
    )
    first = _start(cli, "cache", "add", "stable", env=server.environ())
    _wait_for(lambda: _lock_holder(cli.cache_dir) == str(first.pid), "the first run's lock")
    second = _start(cli, "cache", "add", "stable", env=server.environ())
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert f"waiting for another kubeferry run (pid {first.pid})" in err2
    assert "verified" in out1 and "already cached and verified" in out2
    _assert_cached(cli, release)
    assert [p.name for p in (cli.cache_dir / "k3s").iterdir()] == [STABLE]


def test_two_bundle_creates_into_one_folder_give_one_good_bundle(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    args = (
        "bundle",
        "create",
        str(folder),
        "--k3s",
        "stable",
        "--kubectl",
        "1.31",
        "--arch",
        "amd64",
    )
    with sample_upstream(b"kubectl" * 50_000) as up:
        for name in ("k3s-airgap-images-amd64.tar.zst", "k3s"):
            # slow enough that the second run, started on a busy machine, still finds the
            # first one holding the bundle's lock
            up.state.faults[f"/k3s/{BUNDLE_TAG}/{name}"] = Fault(
                chunk_size=16 * 1024, delay_per_chunk=0.1
            )
        first = _start(cli, *args, env=up.environ())
        _wait_for(lambda: _lock_holder(folder) == str(first.pid), "the first run's lock")
        second = _start(cli, *args, env=up.environ())
        _, err1 = first.communicate(timeout=120)
        _, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert f"waiting for another kubeferry run (pid {first.pid})" in err2
    verify = cli("bundle", "verify", str(folder), "--json")
    assert verify.code == 0, verify.stdout + verify.stderr
    assert verify.json()["ok"] and verify.json()["unlisted"] == []


def test_a_trickling_server_is_a_stall_that_is_announced_and_retried(
    cli: Cli, server: LocalUpstream, release: ReleaseFiles
) -> None:
    # 1 KiB every 5 s for one answer; the stall window is 2 s here so the test takes seconds.
    server.state.faults[_path("k3s")] = Fault(chunk_size=1024, delay_per_chunk=5, slow_times=1)
    env = {**server.environ(), "KUBEFERRY_SPEED_TIME": "2", "KUBEFERRY_SPEED_LIMIT": "1024"}
    result = cli("cache", "add", "stable", "--json", env=env, timeout=60)
    assert result.code == 0, result.stderr
    assert "stalled: less than 1024 bytes/s for 2 s" in result.stderr
    assert "next try in" in result.stderr and "(attempt 2 of 5)" in result.stderr
    _assert_cached(cli, release)
    fetched = result.json()["versions"][0]["fetched_bytes"]
    # Every attempt counts: the trickled KiB plus the resumed rest, each file once at least.
    sizes = [len(release.files[n]) for n in ("k3s", release.assets.images[0])]
    assert fetched >= sum(sizes)


def test_retry_after_is_waited_for_and_announced(
    cli: Cli, server: LocalUpstream, release: ReleaseFiles
) -> None:
    server.state.faults[_path("k3s")] = Fault(fail_status=503, fail_times=1, retry_after="2")
    result = cli("cache", "add", "stable", env=server.environ(), timeout=60)
    assert result.code == 0, result.stderr
    assert "HTTP 503" in result.stderr and "next try in 2 s" in result.stderr
    _assert_cached(cli, release)


def test_an_https_to_http_redirect_is_refused(cli: Cli, pki: Pki, release: ReleaseFiles) -> None:
    with LocalUpstream() as plain, LocalUpstream(tls=pki) as secure:
        serve_release(plain.state.files, release)
        serve_release(secure.state.files, release)
        sums = release.assets.sums
        target = f"{plain.url}{_path(sums)}"
        secure.state.faults[_path(sums)] = Fault(redirect_to=target)
        env = {"KUBEFERRY_K3S_DOWNLOAD_URL": f"{secure.url}/k3s", "SSL_CERT_FILE": str(pki.ca)}
        result = cli("cache", "add", STABLE, env=env)
        plain_requests = list(plain.state.requests)
    assert result.code == 1, result.stdout
    assert f"{secure.url}{_path(sums)} redirected to {target}" in result.stderr
    assert "from https to plain http" in result.stderr and "Traceback" not in result.stderr
    assert plain_requests == []
    assert not (cli.cache_dir / "k3s" / STABLE).exists()


def test_ctrl_c_stops_a_slow_download_keeps_the_part_and_the_rerun_resumes(
    cli: Cli, server: LocalUpstream, release: ReleaseFiles
) -> None:
    images = release.assets.images[0]
    server.state.faults[_path(images)] = Fault(chunk_size=8 * 1024, delay_per_chunk=0.5)
    child = _start(cli, "cache", "add", "stable", env=server.environ())
    staging = cli.cache_dir / "k3s" / f"tmp-{STABLE}-kubeferry"
    part = staging / f".{images}.part"
    _wait_for(lambda: server.state.bytes_sent[_path(images)] > 16 * 1024, "a download under way")
    ended = interrupt(child, guard=10)  # the guard against a hang, not a timing
    err = ended.stderr
    assert ended.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    kept = part.stat().st_size
    assert 0 < kept < len(release.files[images]), err
    assert not (cli.cache_dir / "k3s" / STABLE).exists()

    del server.state.faults[_path(images)]
    again = cli("cache", "add", "stable", env=server.environ())
    assert again.code == 0, again.stderr
    _assert_cached(cli, release)
    ranges = [h.get("Range") for _, p, h in server.state.requests if p == _path(images)]
    assert ranges[-1] == f"bytes={kept}-"


def test_ctrl_c_does_not_wait_for_a_server_that_never_answers(
    cli: Cli, server: LocalUpstream, release: ReleaseFiles
) -> None:
    """Files download in parallel; one server answer never comes (no headers, so no watch can
    shut its socket yet): Ctrl-C still ends the run at once, not after the 30 s read timeout."""
    images = release.assets.images[0]
    server.state.faults[_path("k3s")] = Fault(hold_headers=60)
    server.state.faults[_path(images)] = Fault(chunk_size=8 * 1024, delay_per_chunk=0.5)
    child = _start(cli, "cache", "add", "stable", env=server.environ())
    _wait_for(lambda: server.state.bytes_sent[_path(images)] > 16 * 1024, "a download under way")
    ended = interrupt(child, guard=40)
    assert ended.returncode == 130, ended.stderr
    assert "Traceback" not in ended.stderr
    assert ended.seconds < 10, ended.seconds  # not the 30 s read timeout of the silent answer


def test_failures_say_a_partial_file_was_kept_only_when_one_was(
    cli: Cli, server: LocalUpstream, release: ReleaseFiles
) -> None:
    server.state.faults[_path(release.assets.sums)] = Fault(fail_status=500, fail_times=99)
    result = cli("cache", "add", "stable", env=server.environ(), timeout=90)
    assert result.code == 1
    assert "failed 5 times (last: HTTP 500" in result.stderr
    assert "Nothing was saved" in result.stderr and "was kept" not in result.stderr

    server.state.faults[_path(release.assets.sums)] = Fault(drop_after=100, ignore_range=True)
    dropped = cli("cache", "add", "stable", env=server.environ(), timeout=90)
    assert dropped.code == 1
    assert "was kept: run the same command again to resume" in dropped.stderr


def test_a_full_disk_names_the_destination_file(
    cli: Cli, server: LocalUpstream, release: ReleaseFiles, tmp_path: Path
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here: {mounted.stderr.decode().strip()}")
    try:
        result = cli("--cache-dir", str(small), "cache", "add", "stable", env=server.environ())
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
    assert result.code == 1
    staging = re.escape(f"{small}/k3s/tmp-{STABLE}-kubeferry/")
    # Two files download at once: the disk fills under the part of one, or under the other's
    # validator file (.part.json); either way the message names the file and says why.
    part = rf"could not write {staging}\.(\S+)\.part \(the download of {staging}\1\): No space"
    validator = rf"cannot write {staging}\.\S+\.part\.json: No space"
    assert re.search(part, result.stderr) or re.search(validator, result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_timeout_bounds_one_attempt(cli: Cli, server: LocalUpstream) -> None:
    server.state.faults[_path("k3s")] = Fault(chunk_size=512, delay_per_chunk=0.5)
    env = {**server.environ(), "KUBEFERRY_SPEED_LIMIT": "0"}
    result = cli("--timeout", "1", "cache", "add", "stable", env=env, timeout=90)
    assert result.code == 1
    assert "the attempt took longer than the timeout of 1 s" in result.stderr
    assert "was kept: run the same command again to resume" in result.stderr


def test_bad_transfer_settings_are_usage_errors(cli: Cli) -> None:
    result = cli("cache", "list", env={"KUBEFERRY_SPEED_TIME": "soon"})
    assert result.code == 2 and "KUBEFERRY_SPEED_TIME" in result.stderr


def test_retry_after_forms() -> None:
    from kubeferry.transport.policy import retry_after

    assert retry_after("5") == 5.0
    assert retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None


@pytest.mark.parametrize("meddling", ["write-past-the-end", "replace"])
def test_bytes_written_to_the_part_by_another_program_are_caught(
    tmp_path: Path, meddling: str
) -> None:
    """The digest checked is of the bytes on disk: a foreign write or a swapped file fails the
    check, the bad file is dropped and the download starts over."""
    import os
    import threading

    from kubeferry.download.engine import DownloadJob, download, part_path
    from kubeferry.transport import http
    from kubeferry.transport.policy import RetryNotice, TransferPolicy

    data = bytes(range(256)) * 400
    notices: list[RetryNotice] = []
    with LocalUpstream() as up:
        up.state.files["/f"] = data
        up.state.faults["/f"] = Fault(chunk_size=8192, delay_per_chunk=0.1, slow_times=1)
        job = DownloadJob(f"{up.url}/f", tmp_path / "f", sha256=hashlib.sha256(data).hexdigest())
        part = part_path(job.destination)

        def meddle() -> None:
            _wait_for(part.exists, "the partial file")
            if meddling == "replace":
                other = tmp_path / "other"
                other.write_bytes(data)
                other.replace(part)
                return
            descriptor = os.open(part, os.O_WRONLY)
            os.pwrite(descriptor, b"intruder", len(data) + 10)
            os.close(descriptor)

        intruder = threading.Thread(target=meddle)
        intruder.start()
        policy = TransferPolicy(on_retry=notices.append)
        with http.open_client() as client:
            result = download(client, job, policy=policy, sleep=lambda seconds: None)
        intruder.join()
    assert job.destination.read_bytes() == data and result.size == len(data)
    assert [n.error for n in notices] == [
        f"{part} changed while it was written (another program wrote to it)"
    ]
