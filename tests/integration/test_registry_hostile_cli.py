"""`bundle pull` and `bundle install` against a hostile registry, as a person sees them (issue
22): retries announced, two pulls into one folder, deep JSON and huge bundle manifests refused
before any file is made, true byte counts after a resume, a true Ctrl-C message."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeferry.stores.lock import LOCK_NAME, hold
from tests.conftest import Cli
from tests.support.fake_registry import (
    FakeRegistry,
    Reply,
    bundle_artifact,
    bundle_manifest,
    deep_json,
    wait_for,
)
from tests.support.interrupt import interrupt

KUBECTL = "kuberlr/linux-amd64/kubectl1.30.6"
REFERENCE_PATH = "team/bundle"


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as fake:
        yield fake


def _serve_bundle(registry: FakeRegistry, data: bytes, **how: object) -> str:
    """A one-file bundle artifact as `team/bundle:1`; the reference."""
    files = {KUBECTL: data}
    body = bundle_artifact(registry, REFERENCE_PATH, bundle_manifest(files), files)
    registry.manifest(REFERENCE_PATH, "1", body)
    if how:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        registry.routes[f"/v2/{REFERENCE_PATH}/blobs/{digest}"] = Reply(200, data, **how)  # type: ignore[arg-type]
    return f"{registry.host}/{REFERENCE_PATH}:1"


def _pull(cli: Cli, reference: str, folder: Path, *extra: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubeferry",
            "bundle",
            "pull",
            reference,
            str(folder),
            "--plain-http",
            *extra,
        ],
        env={**cli.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


# -- 7: retries are announced as they happen --------------------------------------------------


def test_trickled_manifest_pull_names_the_stall_and_announces_retries(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    reference = _serve_bundle(registry, b"kubectl" * 100)
    registry.routes[f"/v2/{REFERENCE_PATH}/manifests/1"].trickle_body = 5.0
    started = time.monotonic()
    result = cli(
        "bundle",
        "pull",
        reference,
        str(tmp_path / "b"),
        "--plain-http",
        env={"KUBEFERRY_SPEED_TIME": "1"},
    )
    took = time.monotonic() - started
    assert result.code == 1 and "Traceback" not in result.stderr
    notices = [line for line in result.stderr.splitlines() if "next try in" in line]
    assert len(notices) == 4 and all("stalled" in line for line in notices), result.stderr
    assert "manifests/1" in notices[0] and "(attempt 2 of 5)" in notices[0]
    assert "stalled" in result.stderr.splitlines()[-1]
    assert took < 40, took  # five 1 s stalls and the backoff, not 5 s per byte


def test_trickled_blob_pull_announces_each_retry(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    reference = _serve_bundle(registry, b"kubectl" * 100, trickle_body=5.0)
    result = cli(
        "bundle",
        "pull",
        reference,
        str(tmp_path / "b"),
        "--plain-http",
        env={"KUBEFERRY_SPEED_TIME": "1"},
    )
    assert result.code == 1 and "Traceback" not in result.stderr
    notices = [line for line in result.stderr.splitlines() if "next try in" in line]
    assert len(notices) == 4 and "/blobs/sha256:" in notices[0] and "stalled" in notices[0]


# -- 8: two pulls into one folder take turns --------------------------------------------------


def test_second_pull_into_the_same_folder_waits_for_the_first(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    data = b"k" * 3000
    reference = _serve_bundle(registry, data, trickle_body=0.001)
    folder = tmp_path / "b"
    first = _pull(cli, reference, folder)
    assert wait_for(lambda: (folder / LOCK_NAME).exists(), 30)
    second = _pull(cli, reference, folder)
    _, err_first = first.communicate(timeout=120)
    _, err_second = second.communicate(timeout=120)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert f"waiting for another kubeferry run (pid {first.pid})" in err_second
    assert (folder / KUBECTL).read_bytes() == data and (folder / "kubeferry-bundle.json").exists()
    assert not list(folder.rglob("*.part")) and not (folder / LOCK_NAME).exists()


# -- 9 and 10: deep JSON and huge bundle manifests, refused before any file is made ----------


def test_deep_artifact_manifest_is_a_clear_error(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.manifest(REFERENCE_PATH, "1", deep_json(100_000))
    result = cli(
        "bundle", "pull", f"{registry.host}/{REFERENCE_PATH}:1", str(tmp_path / "b"), "--plain-http"
    )
    assert result.code == 1 and "RecursionError" not in result.stderr
    assert "nested more than 64 deep" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "b").exists()


def test_bundle_manifest_with_too_many_files_creates_none(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    files = {f"kuberlr/linux-amd64/kubectl1.{i // 1000}.{i % 1000}": b"x" for i in range(10_001)}
    manifest = bundle_manifest(files)
    body = bundle_artifact(registry, REFERENCE_PATH, manifest, {KUBECTL: b"x"})
    registry.manifest(REFERENCE_PATH, "1", body)
    folder = tmp_path / "b"
    started = time.monotonic()
    result = cli(
        "bundle", "pull", f"{registry.host}/{REFERENCE_PATH}:1", str(folder), "--plain-http"
    )
    assert result.code == 1 and "lists 10001 files" in result.stderr
    assert "at most 10000" in result.stderr and time.monotonic() - started < 30
    assert not (folder / "kuberlr").exists()  # not one bundle file was created
    assert not any(
        registry.paths(f"/v2/{REFERENCE_PATH}/blobs/sha256:{hashlib.sha256(b'x').hexdigest()}")
    )


# -- 12: true messages -------------------------------------------------------------------------


def test_resumed_pull_reports_the_bytes_really_fetched(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    reference = _serve_bundle(registry, data)
    folder = tmp_path / "b"
    part = folder / "kuberlr/linux-amd64/.kubectl1.30.6.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:700_000])  # an earlier pull stopped here
    result = cli("bundle", "pull", reference, str(folder), "--plain-http", "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["transferred_bytes"] == len(data) - 700_000
    assert report["blobs"][0]["transferred_bytes"] == len(data) - 700_000
    text = cli("bundle", "pull", reference, str(tmp_path / "c"), "--plain-http")
    assert "1 blobs fetched (1.0 MiB)" in text.stdout, text.stdout
    assert "sent" not in text.stdout


def test_ctrl_c_during_install_does_not_speak_of_part_files(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    reference = _serve_bundle(registry, b"kubectl" * 100)
    folder = tmp_path / "b"
    assert cli("bundle", "pull", reference, str(folder), "--plain-http").code == 0
    with hold(folder):  # another run holds the bundle: install waits, then gets Ctrl-C
        child = subprocess.Popen(
            [sys.executable, "-m", "kubeferry", "bundle", "install", str(folder)],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(3)
        stopped = interrupt(child, guard=20)
    assert stopped.returncode == 130 and "waiting for another kubeferry run" in stopped.stderr
    assert "kubeferry: interrupted" in stopped.stderr and ".part" not in stopped.stderr


def test_ctrl_c_during_a_pull_says_the_part_files_were_kept(
    cli: Cli, registry: FakeRegistry, tmp_path: Path
) -> None:
    reference = _serve_bundle(registry, b"k" * 4000, trickle_body=0.01)
    folder = tmp_path / "b"
    child = _pull(cli, reference, folder)
    assert wait_for(lambda: any(folder.rglob(".kubectl*.part")), 30)
    stopped = interrupt(child, guard=20)
    assert stopped.returncode == 130 and ".part files) were kept" in stopped.stderr
