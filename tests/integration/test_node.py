"""Plain k3s nodes: `node install` from a bundle, a mirror and a registry; `node check`.

The install script is the stand-in of tests/support/install_script.py (it honours the same
variables as k3s's, and removes /etc/systemd/system/k3s.service on the host as k3s's does).
Every install runs under `--root`, so the script is contained; the containment test plants a
host unit in a private mount namespace and checks it survives.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, child_environment
from tests.support import containerd as containerd_support
from tests.support import registry as registry_support
from tests.support.install_script import read_record, stand_in_install_script
from tests.support.mirror import MirrorProcess, curl, edit_bundle
from tests.support.sample import OLDER, STABLE, sample_upstream

AMD64_IMAGES = "k3s-airgap-images-amd64.tar.zst"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and link under `root`: (inode, mtime_ns, mode)."""
    found = {}
    for path in sorted(root.rglob("*")):
        status = path.lstat()
        found[str(path.relative_to(root))] = (status.st_ino, status.st_mtime_ns, status.st_mode)
    return found


def _cli(tmp_path: Path, name: str) -> Cli:
    home = tmp_path / name
    home.mkdir()
    return Cli(home, child_environment(home))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A bundle of two releases (stable and 1.30), amd64, no kubectl, made by the real CLI."""
    root = tmp_path_factory.mktemp("node-bundle")
    cli = _cli(root, "maker")
    folder = root / "bundle"
    with sample_upstream(b"not used") as upstream:
        args = ("--k3s", "stable", "--k3s", "1.30", "--arch", "amd64", "--kubectl", "none")
        made = cli("bundle", "create", str(folder), *args, env=upstream.environ())
        assert made.code == 0, made.stderr
    yield folder


def _manifest(bundle: Path) -> dict[str, dict]:
    document = json.loads((bundle / "kubeferry-bundle.json").read_text())
    return {entry["path"]: entry for entry in document["files"]}


def _assert_node_tree(root: Path, bundle_files: dict[str, dict], tag: str) -> None:
    binary = root / "usr/local/bin/k3s"
    assert binary.stat().st_mode & 0o777 == 0o755
    assert _sha256(binary) == bundle_files[f"k3s/{tag}/k3s"]["sha256"]
    images = root / "var/lib/rancher/k3s/agent/images" / AMD64_IMAGES
    assert _sha256(images) == bundle_files[f"k3s/{tag}/{AMD64_IMAGES}"]["sha256"]
    script = root / "var/lib/rancher/k3s/kubeferry/install.sh"
    assert script.read_bytes() == stand_in_install_script(tag)
    assert _sha256(script) == bundle_files[f"k3s/{tag}/install.sh"]["sha256"]
    assert (root / "etc/systemd/system/k3s.service").is_file()


def test_bundle_and_cache_carry_the_install_script(bundle: Path, tmp_path: Path) -> None:
    files = _manifest(bundle)
    for tag in (STABLE, OLDER):
        entry = files[f"k3s/{tag}/install.sh"]
        assert entry["sha256"] == hashlib.sha256(stand_in_install_script(tag)).hexdigest()
        assert entry["url"].endswith(f"/raw/k3s-io/k3s/{tag}/install.sh")
    cli = _cli(tmp_path, "cache")
    with sample_upstream(b"x") as upstream:
        added = cli("cache", "add", STABLE, "--arch", "amd64", env=upstream.environ())
        assert added.code == 0, added.stderr
    folder = cli.cache_dir / "k3s" / STABLE
    assert (folder / "install.sh").read_bytes() == stand_in_install_script(STABLE)
    (folder / "install.sh").unlink()  # a folder of an older kubeferry: still cached
    listed = cli("cache", "list", "--arch", "amd64", "--json")
    assert listed.code == 0, listed.stderr
    version = listed.json()["versions"][0]
    assert version["state"] == "ok" and version["install_script"] is False
    assert cli("cache", "verify", "--arch", "amd64").code == 0
    assert "without install.sh" in cli("cache", "list", "--arch", "amd64").stdout


def test_install_from_bundle_then_second_run_changes_nothing(bundle: Path, tmp_path: Path) -> None:
    cli, root = _cli(tmp_path, "node"), tmp_path / "root"
    token = tmp_path / "token"
    token.write_text("K10secret::server:abc\n")
    args = (
        "node", "install", str(bundle), "--root", str(root), "--k3s", "1.30",
        "--agent", "--server", "https://10.0.0.1:6443", "--token-file", str(token),
        "--exec", "--node-label team=edge", "--registry-mirror", "registry.lan:5000/mirror",
    )  # fmt: skip
    first = cli(*args)
    assert first.code == 0, first.stderr
    assert "K10secret" not in first.stdout + first.stderr
    files = _manifest(bundle)
    binary = root / "usr/local/bin/k3s"
    assert _sha256(binary) == files[f"k3s/{OLDER}/k3s"]["sha256"]
    assert binary.stat().st_mode & 0o777 == 0o755
    images = root / "var/lib/rancher/k3s/agent/images" / AMD64_IMAGES
    assert _sha256(images) == files[f"k3s/{OLDER}/{AMD64_IMAGES}"]["sha256"]
    record = read_record(root / "usr/local/bin")
    assert record["STAND_IN_TAG"] == OLDER and record["INSTALL_K3S_VERSION"] == OLDER
    assert record["INSTALL_K3S_SKIP_DOWNLOAD"] == "true"
    assert record["INSTALL_K3S_BIN_DIR"] == str(root / "usr/local/bin")
    assert record["INSTALL_K3S_SYSTEMD_DIR"] == str(root / "etc/systemd/system")
    assert record["INSTALL_K3S_SKIP_ENABLE"] == "true" and record["ENABLED"] == "no"
    assert record["INSTALL_K3S_SKIP_START"] == "true" and record["STARTED"] == "no"
    assert record["INSTALL_K3S_EXEC"] == "agent --node-label team=edge"
    assert record["K3S_URL"] == "https://10.0.0.1:6443"
    assert record["K3S_TOKEN_FILE"] == str(token) and record["K3S_TOKEN_SET"] == ""
    assert "kubeferry-stubs-" in record["SYSTEMCTL"]  # the stub, never the host's systemctl
    unit = root / "etc/systemd/system/k3s-agent.service"
    assert "--node-label team=edge" in unit.read_text()
    env_file = root / "etc/systemd/system/k3s-agent.service.env"
    assert f"K3S_TOKEN_FILE={token}" in env_file.read_text()
    registries = (root / "etc/rancher/k3s/registries.yaml").read_text()
    assert "https://registry.lan:5000" in registries and "mirror/$1" in registries
    checked = cli("node", "check", "--root", str(root), "--json")
    assert checked.code == 0, checked.stdout
    assert checked.json()["k3s"] == OLDER and "docker.io" in checked.json()["mirrors"]

    placed = {k: v for k, v in _tree(root).items() if "install-sh.record" not in k}
    again = cli(*args)
    assert again.code == 0, again.stderr
    assert "nothing changed: all 4 files were already in place" in again.stdout
    after = _tree(root)
    for name in ("usr/local/bin/k3s", f"var/lib/rancher/k3s/agent/images/{AMD64_IMAGES}"):
        assert after[name] == placed[name]  # same inode, same mtime: not written again
    assert "registries.yaml: unchanged" in again.stdout


def test_dry_run_places_nothing(bundle: Path, tmp_path: Path) -> None:
    cli, root = _cli(tmp_path, "node"), tmp_path / "root"
    root.mkdir()
    result = cli("node", "install", str(bundle), "--root", str(root), "--dry-run", "--json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["k3s"] == STABLE and not report["script_ran"]
    assert report["script_environment"]["INSTALL_K3S_SKIP_DOWNLOAD"] == "true"
    assert [f["already_in_place"] for f in report["files"]] == [False] * 4
    assert list(root.iterdir()) == []


def test_tampered_or_older_bundle_places_nothing(bundle: Path, tmp_path: Path) -> None:
    cli, root = _cli(tmp_path, "node"), tmp_path / "root"
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    images = tampered / "k3s" / STABLE / AMD64_IMAGES
    data = bytearray(images.read_bytes())
    data[100] ^= 0xFF
    images.write_bytes(bytes(data))
    result = cli("node", "install", str(tampered), "--root", str(root))
    assert result.code == 1
    assert "failed verification, so nothing was placed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not root.exists() or list(root.rglob("*")) == []

    older = edit_bundle(bundle, tmp_path / "older", {f"k3s/{STABLE}/install.sh": None})
    result = cli("node", "install", str(older), "--root", str(root))
    assert result.code == 1
    assert f"lacks install.sh of k3s {STABLE}" in result.stderr
    assert "recreate the bundle" in result.stderr
    assert not root.exists() or list(root.rglob("*")) == []


def test_node_check_names_each_gap_and_its_fix(bundle: Path, tmp_path: Path) -> None:
    cli, root = _cli(tmp_path, "node"), tmp_path / "root"
    empty = cli("node", "check", "--root", str(root))
    assert empty.code == 1 and "kubeferry node install SOURCE --root" in empty.stdout
    assert cli("node", "install", str(bundle), "--root", str(root)).code == 0
    assert cli("node", "check", "--root", str(root)).code == 0
    images = root / "var/lib/rancher/k3s/agent/images"
    stale = images / "k3s-airgap-images-amd64.tar"
    stale.write_bytes((bundle / "k3s" / OLDER / AMD64_IMAGES).read_bytes())  # another release
    (images / "workload.tar").write_bytes(b"workload images")
    registries = root / "etc/rancher/k3s/registries.yaml"
    registries.parent.mkdir(parents=True, exist_ok=True)
    registries.write_text("mirrors:\n  docker.io:\n    endpoint: [registry.lan]\n")
    result = cli("node", "check", "--root", str(root))
    assert result.code == 1, result.stdout
    assert f"GAP images: {stale} is an airgap archive of another release" in result.stdout
    assert f"fix: rm {stale}" in result.stdout
    assert "workload.tar: another archive, imported too" in result.stdout
    assert "GAP registries.yaml" in result.stdout and "kubeferry registries check" in result.stdout
    stale.unlink()
    registries.unlink()
    binary = root / "usr/local/bin/k3s"
    binary.write_bytes(b"other binary")
    result = cli("node", "check", "--root", str(root))
    assert result.code == 1
    assert f"is not the {STABLE} binary" in result.stdout
    assert f"fix: kubeferry node install {bundle} --k3s {STABLE} --root {root}" in result.stdout
    fixed = cli("node", "install", str(bundle), "--k3s", STABLE, "--root", str(root))
    assert fixed.code == 0, fixed.stderr
    assert cli("node", "check", "--root", str(root)).code == 0


CONTAIN = """set -e
mount -t tmpfs planted /etc/systemd/system
printf 'host unit\\n' > /etc/systemd/system/k3s.service
printf 'host env\\n' > /etc/systemd/system/k3s.service.env
"$@"
cat /etc/systemd/system/k3s.service /etc/systemd/system/k3s.service.env
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="planting a host unit in a private mount namespace needs root and unshare",
)
def test_host_unit_survives_a_rooted_install(bundle: Path, tmp_path: Path) -> None:
    """In a private mount namespace with its own /etc/systemd/system holding a k3s.service:
    the stand-in run uncontained removes it (so the check can fail); node install --root
    leaves it."""
    cli, root = _cli(tmp_path, "node"), tmp_path / "root"
    script = tmp_path / "install.sh"
    script.write_bytes(stand_in_install_script(STABLE))
    bare = tmp_path / "bare"
    (bare / "bin").mkdir(parents=True)
    (bare / "bin" / "k3s").write_bytes(b"#!/bin/sh\n")
    (bare / "bin" / "k3s").chmod(0o755)
    (bare / "stub").mkdir()
    (bare / "stub" / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (bare / "stub" / "systemctl").chmod(0o755)
    uncontained = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", CONTAIN, "x",
         "env", f"PATH={bare / 'stub'}:{os.environ['PATH']}", "INSTALL_K3S_SKIP_DOWNLOAD=true",
         f"INSTALL_K3S_BIN_DIR={bare / 'bin'}", f"INSTALL_K3S_SYSTEMD_DIR={bare / 'systemd'}",
         "INSTALL_K3S_SKIP_ENABLE=true", "sh", str(script)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert uncontained.returncode != 0 and "No such file" in uncontained.stderr  # removed

    install = [sys.executable, "-m", "kubeferry", "node", "install", str(bundle)]
    contained = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", CONTAIN, "x",
         *install, "--root", str(root)],
        capture_output=True, text=True, check=False, env=cli.env,
    )  # fmt: skip
    assert contained.returncode == 0, contained.stderr
    assert contained.stdout.endswith("host unit\nhost env\n")
    assert (root / "etc/systemd/system/k3s.service").read_text().startswith("[Service]")
    _assert_node_tree(root, _manifest(bundle), STABLE)


NODE = """set -e
mount -t tmpfs node /usr/local
mount -t tmpfs node /var/lib
mount -t tmpfs node /etc/systemd/system
"$@"
cat /usr/local/install-sh.record
ls -l /usr/local/bin/k3s /var/lib/rancher/k3s/agent/images /etc/systemd/system
"""


@pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("unshare") is None
    or not Path("/etc/systemd/system").is_dir(),
    reason="a node install without --root needs root and a private mount namespace for the test",
)
def test_install_on_the_node_itself_enables_and_starts(bundle: Path, tmp_path: Path) -> None:
    """Without --root: k3s's own places and a started unit. The node is this machine inside a
    private mount namespace whose /usr/local, /var/lib and /etc/systemd/system are empty tmpfs;
    systemctl is a stub first on PATH that logs its calls."""
    cli = _cli(tmp_path, "node")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "systemctl.log"
    (stubs / "systemctl").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (stubs / "systemctl").chmod(0o755)
    env = {**cli.env, "PATH": f"{stubs}:{os.environ['PATH']}"}
    install = [sys.executable, "-m", "kubeferry", "node", "install", str(bundle)]
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", NODE, "x", *install,
         "--exec", "server --disable traefik"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert record["INSTALL_K3S_BIN_DIR"] == "/usr/local/bin"
    assert record["INSTALL_K3S_SYSTEMD_DIR"] == ""  # k3s's default: /etc/systemd/system
    assert record["INSTALL_K3S_EXEC"] == "server --disable traefik"
    assert record["ENABLED"] == "yes" and record["STARTED"] == "yes"
    assert "-rwxr-xr-x" in done.stdout and AMD64_IMAGES in done.stdout
    assert "k3s.service" in done.stdout
    calls = log.read_text().splitlines()
    assert "enable /etc/systemd/system/k3s.service" in calls and "restart k3s" in calls
    assert not Path("/var/lib/rancher/k3s/kubeferry").exists()  # the host saw none of it


def test_mirror_serves_the_script_and_a_node_installs_from_it(bundle: Path, tmp_path: Path) -> None:
    cli = _cli(tmp_path, "node")
    with MirrorProcess(child_environment(cli.home), bundle) as mirror:
        base = mirror.base
        newest = curl("-sfL", f"{base}/get.k3s.io/").stdout
        assert newest == stand_in_install_script(STABLE)
        at_tag = curl("-sfL", f"{base}/raw.githubusercontent.com/k3s-io/k3s/{OLDER}/install.sh")
        assert at_tag.stdout == stand_in_install_script(OLDER)
        digest = curl(
            "-sfL", f"{base}/raw.githubusercontent.com/k3s-io/k3s/{OLDER}/install.sh.sha256"
        )
        assert digest.stdout.decode().strip() == hashlib.sha256(at_tag.stdout).hexdigest()
        page = curl("-sfL", f"{base}/").stdout.decode()
        line = (
            f"curl -sfL {base}/get.k3s.io/ | GITHUB_URL={base}/github.com/k3s-io/k3s/releases "
            f"INSTALL_K3S_CHANNEL_URL={base}/update.k3s.io/v1-release/channels sh -"
        )
        assert line in page
        assert f"/var/lib/rancher/k3s/agent/images/{AMD64_IMAGES}" in page
        releases = curl("-sfL", f"{base}/api.github.com/repos/k3s-io/k3s/releases").stdout
        assert b"install.sh" not in releases  # not a release asset

        root = tmp_path / "root"
        planned = cli("node", "install", base, "--root", str(root), "--dry-run", "--json")
        assert planned.code == 0, planned.stderr
        assert planned.json()["k3s"] == STABLE and not root.exists()
        first = cli("node", "install", base, "--root", str(root))
        assert first.code == 0, first.stderr
        _assert_node_tree(root, _manifest(bundle), STABLE)
        assert cli("node", "check", "--root", str(root)).code == 0
        placed = _tree(root)
        again = cli("node", "install", base, "--root", str(root))
        assert again.code == 0, again.stderr
        assert "nothing changed: all 4 files were already in place" in again.stdout
        binary = "usr/local/bin/k3s"
        assert _tree(root)[binary] == placed[binary]
        older = cli("node", "install", base, "--k3s", "1.30", "--root", str(tmp_path / "r2"))
        assert older.code == 0, older.stderr
        _assert_node_tree(tmp_path / "r2", _manifest(bundle), OLDER)


@pytest.mark.skipif(
    registry_support.available() is not None, reason=str(registry_support.available())
)
def test_install_from_a_registry_reference(bundle: Path, tmp_path: Path) -> None:
    cli = _cli(tmp_path, "node")
    running = registry_support.start_registry(tmp_path / "registry")
    try:
        ref = f"{running.host}/platform/k3s-bundle:1"
        pushed = cli("bundle", "push", str(bundle), ref, "--plain-http")
        assert pushed.code == 0, pushed.stderr
        root = tmp_path / "root"
        result = cli("node", "install", ref, "--plain-http", "--root", str(root), "--json")
        assert result.code == 0, result.stderr
        assert result.json()["source"] == ref
        _assert_node_tree(root, _manifest(bundle), STABLE)
        checked = cli("node", "check", "--root", str(root), "--json")
        assert checked.code == 0, checked.stdout
        fix = next(f for f in checked.json()["findings"] if f["item"] == "node.json")
        assert fix["ok"]
    finally:
        running.stop()


def test_signatures_gate_a_node_install(bundle: Path, tmp_path: Path) -> None:
    """With a trusted key configured, an unsigned bundle places nothing; once signed with that
    key it installs; --allow-unsigned lets an unsigned one through."""
    cli, root = _cli(tmp_path, "node"), tmp_path / "root"
    keys = tmp_path / "keys"
    assert cli("keys", "generate", str(keys)).code == 0
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    trusted = ("--key", str(keys / "kubeferry.pub"))
    refused = cli("node", "install", str(copy), "--root", str(root), *trusted)
    assert refused.code == 1 and "Traceback" not in refused.stderr
    assert "nothing was placed" in refused.stderr
    assert not root.exists() or list(root.rglob("*")) == []
    allowed = cli("node", "install", str(copy), "--root", str(root), *trusted, "--allow-unsigned")
    assert allowed.code == 0, allowed.stderr
    shutil.rmtree(root)
    signed = cli("bundle", "sign", str(copy), "--key", str(keys / "kubeferry.key"))
    assert signed.code == 0, signed.stderr
    result = cli("node", "install", str(copy), "--root", str(root), *trusted)
    assert result.code == 0, result.stderr
    assert "signed by" in result.stderr and ": trusted" in result.stderr
    _assert_node_tree(root, _manifest(bundle), STABLE)


def _with_workload_image(bundle: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the bundle carrying one real image (busybox) in its `images/` OCI layout."""
    from tests.support.workload import busybox_image

    built = busybox_image(tmp_path / "layout", "1")
    name = "docker.io/library/hello:1"
    index = json.loads((built.layout / "index.json").read_text())
    index["manifests"][0]["annotations"] = {
        "org.opencontainers.image.ref.name": name,
        "io.containerd.image.name": name,
    }
    changes: dict[str, bytes | None] = {
        "images/oci-layout": (built.layout / "oci-layout").read_bytes(),
        "images/index.json": json.dumps(index).encode(),
    }
    for blob in (built.layout / "blobs" / "sha256").iterdir():
        changes[f"images/blobs/sha256/{blob.name}"] = blob.read_bytes()
    return edit_bundle(bundle, tmp_path / "with-images", changes), name


@pytest.mark.skipif(
    containerd_support.unavailable() is not None or shutil.which("busybox") is None,
    reason=str(containerd_support.unavailable() or "busybox-static is not installed"),
)
def test_workload_images_become_one_archive_containerd_imports(
    bundle: Path, tmp_path: Path
) -> None:
    """The bundle's images/ layout lands in agent/images/ as one OCI archive; a real containerd
    imports it (what k3s does with agent/images/) and runs the image."""
    from tests.support.workload import GREETING

    cli, root = _cli(tmp_path, "node"), tmp_path / "root"
    carrying, name = _with_workload_image(bundle, tmp_path)
    first = cli("node", "install", str(carrying), "--root", str(root), "--json")
    assert first.code == 0, first.stderr
    archive = root / "var/lib/rancher/k3s/agent/images/kubeferry-workload-images.tar"
    files = _manifest(carrying)
    with tarfile.open(archive) as packed:
        members = {m.name: packed.extractfile(m).read() for m in packed.getmembers()}  # type: ignore[union-attr]
    expected = {p.removeprefix("images/"): e for p, e in files.items() if p.startswith("images/")}
    assert set(members) == set(expected)
    for member, data in members.items():
        assert hashlib.sha256(data).hexdigest() == expected[member]["sha256"]
    again = cli("node", "install", str(carrying), "--root", str(root))
    assert "nothing changed: all 5 files were already in place" in again.stdout
    assert cli("node", "check", "--root", str(root)).code == 0
    runtime = containerd_support.Containerd(tmp_path / "containerd")
    try:
        runtime.ctr("images", "import", str(archive))
        assert name in runtime.ctr("images", "ls", "-q").stdout.split()
        ran = runtime.ctr("run", "--rm", name, "kf-node")
        assert ran.stdout.strip() == GREETING
    finally:
        runtime.stop()
