"""Bundles end to end: a local upstream -> create -> verify -> install -> doctor -> wrapper."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import Cli, child_environment
from tests.support.apiserver import ApiServer, cert_user, kubeconfig, make_pki
from tests.support.k3s import release_files, serve_release
from tests.support.sample import KUBECTL, OLDER, STABLE, sample_upstream
from tests.support.upstream import Fault, LocalUpstream

T = TypeVar("T")


def _upstream(kubectl_bytes: bytes) -> LocalUpstream:
    return sample_upstream(kubectl_bytes)


CREATE = (
    "bundle",
    "create",
    "--k3s",
    "stable",
    "--k3s",
    "1.30",
    "--arch",
    "amd64",
    "--arch",
    "arm64",
    "--os",
    "linux",
    "--os",
    "windows",
)


@pytest.fixture(scope="module")
def made(
    tmp_path_factory: pytest.TempPathFactory,
    real_kubectls: dict[str, Path],
) -> Iterator[tuple[Path, LocalUpstream, Cli]]:
    """One bundle, made once through the real CLI, for the tests that only read or copy it."""
    root = tmp_path_factory.mktemp("bundle")
    home = root / "maker"
    home.mkdir()
    cli = Cli(home, child_environment(home))
    with _upstream(real_kubectls[KUBECTL].read_bytes()) as upstream:
        folder = root / "bundle"
        result = cli(*CREATE, str(folder), "--json", env=upstream.environ())
        assert result.code == 0, result.stderr
        yield folder, upstream, cli


def _copy(made_folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(made_folder, target, symlinks=True)
    return target


def test_dry_run_plans_without_downloading(tmp_path: Path, real_kubectls) -> None:
    home = tmp_path / "h"
    home.mkdir()
    cli = Cli(home, child_environment(home))
    with _upstream(real_kubectls[KUBECTL].read_bytes()) as upstream:
        result = cli(*CREATE, str(tmp_path / "b"), "--dry-run", "--json", env=upstream.environ())
        assert result.code == 0, result.stderr
        gets = [
            p
            for method, p, _ in upstream.state.requests
            if method == "GET" and (p.startswith("/k3s/") or "/bin/" in p)
        ]
        sizes = {p: len(d) for p, d in upstream.state.files.items()}
    plan = result.json()
    assert gets == []  # HEAD only
    assert not (tmp_path / "b").exists()
    assert plan["kubectl"] == [KUBECTL] and plan["k3s"] == [STABLE, OLDER]
    assert len(plan["files"]) == 2 * 2 * 3 + 2 * 2  # tags x arches x 3 files + OSes x arches
    assert plan["total_bytes"] == sum(
        sizes[f["url"].split(upstream.url, 1)[1]] for f in plan["files"]
    )
    paths = {f["path"] for f in plan["files"]}
    assert f"k3s/{STABLE}/k3s-airgap-images-arm64.tar.zst" in paths
    assert f"kuberlr/windows-amd64/kubectl{KUBECTL}.exe" in paths


def test_create_writes_the_layout_and_a_manifest(made) -> None:
    folder, _, _ = made
    manifest = json.loads((folder / "kubeferry-bundle.json").read_text())
    assert manifest["targets"]["k3s"] == [STABLE, OLDER]
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
    catalog = json.loads((folder / "k3s-versions.json").read_text())
    assert {STABLE, OLDER} <= set(catalog["versions"]) and catalog["channels"]["v1.30"] == "1.30.6"
    assert (folder / "kuberlr" / "linux-amd64" / f"kubectl{KUBECTL}").stat().st_mode & 0o111


def test_verify_install_twice_windows_layout_doctor_and_wrapper(
    made, tmp_path: Path, real_kubectls
) -> None:
    folder, _, cli = made
    assert cli("bundle", "verify", str(folder)).code == 0
    home = tmp_path / "offline"
    home.mkdir()
    offline = Cli(home, {**child_environment(home), "KUBEFERRY_OFFLINE": "1"})
    first = offline("bundle", "install", str(folder), "--arch", "amd64", "--json")
    assert first.code == 0, first.stderr
    assert (
        len(first.json()["placed"]) == 2 * 2 * 3 + 2 + 1
    )  # k3s files, install.sh per tag, kubectl
    second = offline("bundle", "install", str(folder), "--arch", "amd64")
    assert second.code == 0 and "nothing to do" in second.stdout

    cache = home / ".cache" / "rancher-desktop"
    versions = offline("versions", "--json", "--arch", "amd64").json()["versions"]
    assert [v["tag"] for v in versions] == [STABLE, OLDER]  # offline: exactly what is cached
    doctor = offline("doctor", "--arch", "amd64")
    assert doctor.code == 0, doctor.stdout
    assert "READY" in doctor.stdout and (cache / "k3s" / STABLE / "k3s").is_file()

    windows_home = tmp_path / "win"
    windows_home.mkdir()
    win = offline(
        "--os",
        "windows",
        "--home",
        str(windows_home),
        "bundle",
        "install",
        str(folder),
        "--arch",
        "amd64",
    )
    assert win.code == 0, win.stderr
    assert (windows_home / "AppData/Local/rancher-desktop/cache/k3s" / OLDER / "k3s").is_file()
    assert (windows_home / ".kuberlr/windows-amd64" / f"kubectl{KUBECTL}.exe").is_file()
    assert (windows_home / "AppData/Local/rancher-desktop/cache/k3s-versions.json").is_file()

    pki = make_pki(tmp_path / "pki")
    with ApiServer(pki, STABLE) as api:
        kubeconfig(home / ".kube" / "config", {"rd": (api.url, cert_user(pki))}, pki, "rd")
        assert offline("shim", "install", "--dir", str(home / "bin")).code == 0
        done = subprocess.run(
            [str(home / "bin" / "kubectl"), "version", "-o", "json"],
            env={**offline.env, "KUBERLR_SYSTEMPATH": str(tmp_path / "none")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    versions = json.loads(done.stdout)
    assert versions["clientVersion"]["gitVersion"] == f"v{KUBECTL}"
    assert versions["serverVersion"]["gitVersion"] == STABLE


def _edit_manifest(folder: Path, change) -> None:
    path = folder / "kubeferry-bundle.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _flip(folder: Path) -> None:
    target = folder / "k3s" / OLDER / "k3s-airgap-images-amd64.tar.zst"
    data = bytearray(target.read_bytes())
    data[1000] ^= 0xFF
    target.write_bytes(bytes(data))


def _symlink(folder: Path) -> None:
    target = folder / "k3s" / OLDER / "k3s"
    outside = folder.parent / "outside"
    shutil.copyfile(target, outside)
    target.unlink()
    target.symlink_to(outside)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (_flip, ["failed verification", f"k3s/{OLDER}/k3s-airgap-images-amd64.tar.zst: sha256"]),
        (
            lambda f: (f / "k3s" / STABLE / "sha256sum-arm64.txt").unlink(),
            ["failed verification", f"k3s/{STABLE}/sha256sum-arm64.txt: missing"],
        ),
        (
            lambda f: _edit_manifest(
                f, lambda m: m["files"].append({"path": "../x", "size": 1, "sha256": "a" * 64})
            ),
            ["'../x'", "refused"],
        ),
        (
            lambda f: _edit_manifest(
                f,
                lambda m: m["files"].append(
                    {"path": "/etc/cron.d/x", "size": 1, "sha256": "a" * 64}
                ),
            ),
            ["is absolute"],
        ),
        (_symlink, ["symbolic link", "refused"]),
        (lambda f: (f / "kubeferry-bundle.json").write_text("{ truncated"), ["not valid JSON"]),
    ],
    ids=["flipped-byte", "missing-file", "dotdot", "absolute", "symlink", "malformed-manifest"],
)
def test_bad_bundles_are_refused_and_nothing_is_placed(
    made, tmp_path: Path, damage, words: list[str]
) -> None:
    folder = _copy(made[0], tmp_path)
    damage(folder)
    home = tmp_path / "target"
    home.mkdir()
    target = Cli(home, child_environment(home))
    result = target("bundle", "install", str(folder))
    assert result.code == 1
    assert result.stderr.startswith("kubeferry: error:")
    for word in words:
        assert word in result.stderr, word
    assert list(home.iterdir()) == []  # nothing placed, not even a folder
    verify = target("bundle", "verify", str(folder))
    assert verify.code == 1


def test_extra_files_are_reported_not_fatal(made, tmp_path: Path) -> None:
    folder = _copy(made[0], tmp_path)
    (folder / "NOTES.txt").write_text("carried by hand")
    result = made[2]("bundle", "verify", str(folder), "--json")
    assert result.code == 0 and result.json()["unlisted"] == ["NOTES.txt"]


def test_doctor_names_the_missing_kubectl(made, tmp_path: Path) -> None:
    folder = made[0]
    home = tmp_path / "h"
    home.mkdir()
    cli = Cli(home, child_environment(home))
    assert cli("bundle", "install", str(folder), "--arch", "amd64", "--os", "darwin").code == 0
    result = cli("doctor", "--arch", "amd64", "--os", "darwin", "--json")
    assert result.code == 1
    data = result.json()
    assert data["missing_kubectl_minors"] == ["1.31"]
    assert any("kubeferry kubectl get 1.31 --os darwin --arch amd64" in f for f in data["fixes"])
    assert (home / "Library/Caches/rancher-desktop/k3s" / STABLE / "k3s").is_file()


def test_sigkilled_create_resumes_without_refetching_finished_files(
    tmp_path: Path, real_kubectls
) -> None:
    home = tmp_path / "h"
    home.mkdir()
    cli = Cli(home, child_environment(home))
    slow = f"/k3s/{STABLE}/k3s-airgap-images-amd64.tar.zst"
    with _upstream(real_kubectls[KUBECTL].read_bytes()) as upstream:
        big = release_files(STABLE, "amd64", images_size=4_000_000)
        serve_release(upstream.state.files, big)
        upstream.state.faults[slow] = Fault(delay_per_chunk=0.02)
        folder = tmp_path / "b"
        part = folder / "k3s" / STABLE / ".k3s-airgap-images-amd64.tar.zst.part"
        args = [sys.executable, "-m", "kubeferry", *CREATE[:-6], "--arch", "amd64", str(folder)]
        process = subprocess.Popen(
            args,
            env={**cli.env, **upstream.environ()},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        size = len(big.files["k3s-airgap-images-amd64.tar.zst"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not part.exists() or part.stat().st_size < size // 2
        ):
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert part.exists() and not (folder / "kubeferry-bundle.json").exists()
        before = _settled(lambda: dict(upstream.state.bytes_sent))  # the server saw the kill
        upstream.state.faults.pop(slow)
        kept = part.stat().st_size
        result = cli(*CREATE[:-6], "--arch", "amd64", str(folder), env=upstream.environ())
        assert result.code == 0, result.stderr
        after = dict(upstream.state.bytes_sent)
    fetched_again = {p: after[p] - before.get(p, 0) for p in after if after[p] != before.get(p, 0)}
    assert fetched_again.pop(slow) == size - kept  # only the remainder
    # Small metadata is read again (sums files, stable-1.31.txt, .sha256: the digests that the
    # finished files are checked by; install.sh, whose digest no sums file holds); no finished
    # binary or images file is fetched again.
    scripts = {p: fetched_again.pop(p) for p in list(fetched_again) if p.endswith("/install.sh")}
    assert all(n < 10_000 for n in scripts.values())
    metadata = {p for p in fetched_again if "sha256sum" in p or p.endswith((".txt", ".sha256"))}
    assert set(fetched_again) == metadata
    assert all(n < 1000 for n in fetched_again.values())
    assert cli("bundle", "verify", str(folder)).code == 0


def _settled(read: Callable[[], T], *, seconds: float = 10) -> T:
    """`read()` once two reads 0.2 s apart agree (a server thread may still be writing)."""
    last = read()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = read()
        if now == last:
            return now
        last = now
    raise AssertionError(f"still changing after {seconds} s: {last}")


def test_an_unreadable_cache_catalog_is_kept_aside(made, tmp_path: Path) -> None:
    home = tmp_path / "h"
    cache = home / ".cache" / "rancher-desktop"
    cache.mkdir(parents=True)
    (cache / "k3s-versions.json").write_text("{ not json")
    cli = Cli(home, child_environment(home))
    result = cli("bundle", "install", str(made[0]), "--arch", "amd64")
    assert result.code == 0, result.stderr
    assert "kept as" in result.stdout
    assert (cache / "k3s-versions.json.unreadable").read_text() == "{ not json"
    assert STABLE in json.loads((cache / "k3s-versions.json").read_text())["versions"]


def test_install_bundle_as_a_library_refuses_a_tampered_bundle(made, tmp_path: Path) -> None:
    """The promise "nothing is placed from a bundle that fails" is the library's, not the CLI's."""
    from kubeferry.bundle.install import install_bundle
    from kubeferry.errors import BundleError
    from kubeferry.targets.local import LocalTarget

    folder = _copy(made[0], tmp_path)
    binary = folder / "k3s" / STABLE / "k3s"
    data = bytearray(binary.read_bytes())
    data[100] ^= 0xFF
    binary.write_bytes(bytes(data))
    home = tmp_path / "target"
    home.mkdir()
    target = LocalTarget(home / "cache", home, "linux", ("amd64",))
    with pytest.raises(BundleError, match="failed verification") as info:
        install_bundle(folder, target)
    assert "k3s/" in info.value.message and "sha256" in info.value.message
    assert list(home.iterdir()) == []


def test_install_bundle_refuses_a_catalog_left_out_of_the_manifest(made, tmp_path: Path) -> None:
    """An edited, unlisted k3s-versions.json must not reach the cache (stable -> 1.99.0)."""
    from kubeferry.bundle.install import install_bundle
    from kubeferry.errors import BundleError
    from kubeferry.targets.local import LocalTarget

    folder = _copy(made[0], tmp_path)
    manifest_path = folder / "kubeferry-bundle.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "k3s-versions.json"]
    manifest_path.write_text(json.dumps(manifest))
    catalog = json.loads((folder / "k3s-versions.json").read_text())
    catalog["versions"].append("v1.99.0+k3s1")
    catalog["channels"]["stable"] = "1.99.0"
    (folder / "k3s-versions.json").write_text(json.dumps(catalog))
    home = tmp_path / "target"
    home.mkdir()
    with pytest.raises(BundleError, match=r"does not list k3s-versions\.json"):
        install_bundle(folder, LocalTarget(home / "cache", home, "linux", ("amd64",)))
    assert list(home.iterdir()) == []
