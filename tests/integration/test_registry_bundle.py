"""Bundles through a real CNCF Distribution registry: push, pull, resume, install, auth."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli, Result, child_environment
from tests.support import registry as registry_support
from tests.support.k3s import github_release, release_files, serve_release
from tests.support.registry import Registry, htpasswd_auth, start_registry, token_auth
from tests.support.sample import sample_channels
from tests.support.throttle import ThrottleProxy
from tests.support.token_server import TokenServer, TokenState, make_token_key
from tests.support.upstream import LocalUpstream, UpstreamState

pytestmark = pytest.mark.skipif(
    registry_support.available() is not None, reason=str(registry_support.available())
)
TAG = "v1.32.3+k3s1"
BIG = 24 * 1024 * 1024
IMAGES = f"k3s/{TAG}/k3s-airgap-images-amd64.tar.zst"


@pytest.fixture(scope="module")
def bundle_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle made by the real CLI from a local upstream, one big incompressible archive."""
    root = tmp_path_factory.mktemp("made")
    state = UpstreamState(channels=sample_channels())
    files = release_files(TAG, "amd64", images_size=BIG, with_tar=False)
    serve_release(state.files, files)
    state.releases.append(github_release(TAG, list(files.files)))
    home = root / "maker"
    home.mkdir()
    maker = Cli(home, child_environment(home))
    folder = root / "bundle"
    with LocalUpstream(state) as upstream:
        made = maker(
            "bundle",
            "create",
            str(folder),
            "--k3s",
            "stable",
            "--arch",
            "amd64",
            "--kubectl",
            "none",
            env=upstream.environ(),
        )
    assert made.code == 0, made.stderr
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "registry")
    yield running
    running.stop()


def _fresh(tmp_path: Path, name: str) -> Cli:
    home = tmp_path / name
    home.mkdir()
    return Cli(home, child_environment(home))


def test_push_pull_verify_install_then_second_push_uploads_nothing(
    registry: Registry, bundle_folder: Path, cli: Cli, tmp_path: Path
) -> None:
    ref = f"{registry.host}/platform/offline:2026-11"
    pushed = cli("bundle", "push", str(bundle_folder), ref, "--plain-http", "--json")
    assert pushed.code == 0, pushed.stderr
    first = registry.blob_uploads()
    files = json.loads((bundle_folder / "kubeferry-bundle.json").read_text())["files"]
    assert pushed.json()["uploaded"] == len(files) + 2  # files, the manifest layer, the config
    assert len([r for r in first if r[0] == "PUT"]) == len(files) + 2

    manifest = httpx.get(
        f"{registry.url}/v2/platform/offline/manifests/2026-11",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    ).json()
    assert manifest["artifactType"] == "application/vnd.kubeferry.bundle.v1"
    titles = {
        layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]
    }
    assert titles == {f["path"] for f in files} | {"kubeferry-bundle.json"}

    again = cli("bundle", "push", str(bundle_folder), ref, "--plain-http", "--json")
    assert again.code == 0, again.stderr
    assert registry.blob_uploads() == first  # not one more upload request
    assert again.json()["uploaded"] == 0 and again.json()["present"] == len(files) + 2

    pulled = tmp_path / "pulled"
    result = cli("bundle", "pull", ref, str(pulled), "--plain-http", "--json")
    assert result.code == 0, result.stderr
    assert cli("bundle", "verify", str(pulled)).code == 0
    offline = _fresh(tmp_path, "offline")
    installed = offline("bundle", "install", ref, "--plain-http", "--arch", "amd64", "--json")
    assert installed.code == 0, installed.stderr
    assert len(installed.json()["placed"]) == 4  # binary, images, sums file, install.sh
    archive = offline.cache_dir / IMAGES
    assert archive.read_bytes() == (bundle_folder / IMAGES).read_bytes()
    staging = offline.cache_dir / ".kubeferry-pulled-bundles"
    assert staging.is_dir() and list(staging.iterdir()) == []  # pulled there, removed after


def test_push_to_another_repository_mounts(
    registry: Registry, bundle_folder: Path, cli: Cli
) -> None:
    first = cli("bundle", "push", str(bundle_folder), f"{registry.host}/a/bundle:1", "--plain-http")
    assert first.code == 0, first.stderr
    assert "blobs sent (" in first.stdout and "fetched" not in first.stdout
    before = registry.blob_uploads()
    second = cli(
        "bundle",
        "push",
        str(bundle_folder),
        f"{registry.host}/b/bundle:1",
        "--plain-http",
        "--mount-from",
        "a/bundle",
        "--json",
    )
    assert second.code == 0, second.stderr
    assert registry.blob_uploads() == before
    assert second.json()["mounted"] == len(second.json()["blobs"])
    mounts = [r for r in registry.requests() if "mount=" in r[1]]
    assert mounts and all(status == 201 for _, _, status in mounts)


def test_pull_killed_halfway_resumes_and_fetches_only_the_rest(
    registry: Registry, bundle_folder: Path, cli: Cli, tmp_path: Path
) -> None:
    ref = f"{registry.host}/platform/offline:resume"
    assert cli("bundle", "push", str(bundle_folder), ref, "--plain-http").code == 0
    target = tmp_path / "pulled"
    part = target / "k3s" / TAG / ".k3s-airgap-images-amd64.tar.zst.part"
    with ThrottleProxy(registry.port, rate=4 * 1024 * 1024) as proxy:
        slow = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeferry",
                "bundle",
                "pull",
                f"{proxy.host}/platform/offline:resume",
                str(target),
                "--plain-http",
            ],
            env=cli.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < BIG // 4):
            time.sleep(0.02)
        slow.send_signal(signal.SIGKILL)
        slow.wait()
    kept = part.stat().st_size
    assert BIG // 4 <= kept < BIG
    assert not (target / "kubeferry-bundle.json").exists()  # never looks finished
    resumed = cli("bundle", "pull", ref, str(target), "--plain-http", "--json")
    assert resumed.code == 0, resumed.stderr
    digest = hashlib.sha256((bundle_folder / IMAGES).read_bytes()).hexdigest()
    gets = [r for r in registry.requests() if r[0] == "GET" and digest in r[1]]
    assert gets[-1][2] == 206  # the last GET of the big blob was a Range answer
    sizes = [
        int(line.split('" 206 ')[1].split()[0])
        for line in registry.log.read_text().splitlines()
        if digest in line and '" 206 ' in line
    ]
    total = (bundle_folder / IMAGES).stat().st_size
    assert sizes[-1] == total - kept
    assert cli("bundle", "verify", str(target)).code == 0
    # the bytes a pull reports are the bytes it fetched: the big blob's rest, not its size
    blobs = resumed.json()["blobs"]
    others = sum(b["size"] for b in blobs if b["how"] == "fetched" and b["label"] != IMAGES)
    assert resumed.json()["transferred_bytes"] == others + total - kept
    again = cli("bundle", "pull", ref, str(target), "--plain-http")
    assert again.code == 0, again.stderr
    assert "0 blobs fetched (0 B)" in again.stdout and "sent" not in again.stdout


def test_pull_refuses_a_title_outside_the_bundle(
    registry: Registry, cli: Cli, tmp_path: Path
) -> None:
    blob = b"evil"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    for data, d in ((blob, digest), (b"{}", empty)):
        start = httpx.post(f"{registry.url}/v2/evil/b/blobs/uploads/")
        location = start.headers["Location"]
        sep = "&" if "?" in location else "?"
        assert (
            httpx.put(
                f"{registry.url}{location}{sep}digest={d}"
                if location.startswith("/")
                else f"{location}{sep}digest={d}",
                content=data,
            ).status_code
            == 201
        )
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.kubeferry.bundle.v1",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [
            {
                "mediaType": "x",
                "digest": digest,
                "size": 4,
                "annotations": {"org.opencontainers.image.title": "../../etc/evil"},
            }
        ],
    }
    put = httpx.put(
        f"{registry.url}/v2/evil/b/manifests/1",
        content=json.dumps(manifest),
        headers={"Content-Type": manifest["mediaType"]},
    )
    assert put.status_code == 201, put.text
    target = tmp_path / "t"
    result = cli("bundle", "pull", f"{registry.host}/evil/b:1", str(target), "--plain-http")
    assert result.code == 1
    assert "outside the bundle folder" in result.stderr and "nothing was placed" in result.stderr
    assert not (tmp_path / "etc").exists() and not list(target.rglob("evil"))


def test_basic_auth_with_password_stdin_docker_config_and_a_clear_401(
    tmp_path: Path, bundle_folder: Path, cli: Cli
) -> None:
    root = tmp_path / "basic"
    root.mkdir()
    running = start_registry(root, htpasswd_auth(root, {"alice": "s3cret"}))
    try:
        ref = f"{running.host}/platform/offline:auth"
        anonymous = cli("bundle", "push", str(bundle_folder), ref, "--plain-http")
        assert anonymous.code == 1
        assert "401" in anonymous.stderr and "--password-stdin" in anonymous.stderr
        assert "docker login" in anonymous.stderr and "Traceback" not in anonymous.stderr
        done = _logged_in(cli, "alice", "s3cret", "push", str(bundle_folder), ref)
        assert done.code == 0, done.stderr
        config = cli.home / ".docker" / "config.json"
        config.parent.mkdir()
        token = base64.b64encode(b"alice:s3cret").decode()
        config.write_text(json.dumps({"auths": {running.host: {"auth": token}}}))
        pulled = cli("bundle", "pull", ref, str(tmp_path / "p"), "--plain-http")
        assert pulled.code == 0, pulled.stderr
        wrong = base64.b64encode(b"alice:wrong").decode()
        config.write_text(json.dumps({"auths": {f"http://{running.host}": {"auth": wrong}}}))
        refused = cli("bundle", "pull", ref, str(tmp_path / "q"), "--plain-http")
        assert refused.code == 1 and "401" in refused.stderr and running.url in refused.stderr
    finally:
        running.stop()


def _logged_in(cli: Cli, user: str, password: str, *args: str) -> Result:
    """`kubeferry bundle ARGS --plain-http` with `--username USER --password-stdin`."""
    login = ("--plain-http", "--username", user, "--password-stdin")
    return cli("bundle", *args, *login, stdin=f"{password}\n")


def test_bearer_token_flow(tmp_path: Path, bundle_folder: Path, cli: Cli) -> None:
    key = make_token_key(tmp_path)
    with TokenServer(TokenState(key, users={"bob": "pw"})) as tokens:
        running = start_registry(tmp_path / "tok", token_auth(tokens.realm, key))
        try:
            ref = f"{running.host}/platform/offline:token"
            done = _logged_in(cli, "bob", "pw", "push", str(bundle_folder), ref, "--json")
            assert done.code == 0, done.stderr
            scopes = {s for r in tokens.state.requests for s in r["scope"]}
            assert "repository:platform/offline:pull,push" in scopes
            refused = cli("bundle", "pull", ref, str(tmp_path / "p"), "--plain-http")
            assert refused.code == 1 and "401" in refused.stderr and "log in" in refused.stderr
            bad = _logged_in(cli, "bob", "nope", "pull", ref, str(tmp_path / "q"))
            assert bad.code == 1 and "refused the credentials" in bad.stderr
        finally:
            running.stop()


def test_https_default_names_plain_http_when_the_registry_speaks_http(
    registry: Registry, bundle_folder: Path, cli: Cli
) -> None:
    result = cli("bundle", "push", str(bundle_folder), f"{registry.host}/a/b:1")
    assert result.code == 1 and "--plain-http" in result.stderr and "Traceback" not in result.stderr


def test_not_a_reference_is_a_clear_error(cli: Cli, bundle_folder: Path) -> None:
    result = cli("bundle", "push", str(bundle_folder), "platform/offline")
    assert result.code == 1 and "HOST[:PORT]/REPOSITORY" in result.stderr


def test_push_refuses_a_bundle_that_does_not_verify(
    registry: Registry, bundle_folder: Path, cli: Cli, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle_folder, copy)
    binary = copy / "k3s" / TAG / "k3s"
    binary.write_bytes(binary.read_bytes() + b"tampered")
    result = cli("bundle", "push", str(copy), f"{registry.host}/a/b:1", "--plain-http")
    assert result.code == 1 and "failed verification" in result.stderr
    assert f"k3s/{TAG}/k3s" in result.stderr and "nothing was pushed" in result.stderr
    assert registry.blob_uploads() == []
