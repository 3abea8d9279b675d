"""`kubeferry mirror export` served by a real nginx, with the same real clients as `serve`."""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, child_environment
from tests.support import mirror_clients as clients
from tests.support.apiserver import Pki
from tests.support.mirror import curl, edit_bundle, header, make_bundle, mirror_upstream
from tests.support.nginx import Nginx, nginx_binary
from tests.support.sample import KUBECTL, OLDER, STABLE

pytestmark = pytest.mark.kubectl

if nginx_binary() is None:
    pytest.skip(
        "nginx is not installed: apt-get install -y --no-install-recommends nginx-light",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def public() -> Iterator[Path]:
    """A folder nginx's workers (user nobody) can traverse: mkdtemp makes 0700, so chmod."""
    folder = Path(tempfile.mkdtemp(prefix="kubeferry-nginx-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def maker(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    home = tmp_path_factory.mktemp("export-maker")
    return Cli(home, child_environment(home))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, maker: Cli, real_kubectls) -> Path:
    root = tmp_path_factory.mktemp("export-bundle")
    kubectl = real_kubectls[KUBECTL].read_bytes()
    with mirror_upstream(kubectl, real_kubectls["1.33.9"].read_bytes()) as upstream:
        return make_bundle(maker, upstream, root / "bundle")


@pytest.fixture(scope="module")
def exported(public: Path, bundle: Path, maker: Cli) -> Path:
    result = maker("mirror", "export", str(bundle), str(public / "tree"), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["channels"]["stable"] == STABLE
    return public / "tree"


@pytest.fixture(scope="module")
def web(exported: Path, public: Path) -> Iterator[Nginx]:
    with Nginx(exported, public / "nginx", exported / "nginx-kubeferry.conf") as server:
        yield server


def test_tree_is_static_world_readable_and_has_the_snippet(exported: Path, bundle: Path) -> None:
    binary = exported / "github.com/k3s-io/k3s/releases/download" / STABLE / "k3s"
    assert binary.read_bytes() == (bundle / "k3s" / STABLE / "k3s").read_bytes()
    assert binary.stat().st_nlink == 1 and not binary.is_symlink()  # a copy, never a link
    for path in [exported, *exported.rglob("*")]:
        mode = path.stat().st_mode
        assert mode & stat.S_IROTH, path
        if path.is_dir():
            assert mode & stat.S_IXOTH, path
    snippet = (exported / "nginx-kubeferry.conf").read_text()
    assert "location = /update.k3s.io/v1-release/channels/stable {" in snippet
    assert f"/github.com/k3s-io/k3s/releases/tag/{STABLE};" in snippet
    assert (exported / "update.k3s.io/v1-release/channels/v1.30").read_text() == OLDER
    releases = json.loads((exported / "api.github.com/repos/k3s-io/k3s/releases").read_text())
    assert [r["tag_name"] for r in releases] == [STABLE, OLDER]


def test_kubeferry_with_only_the_mirror_variable(web: Nginx, bundle: Path, tmp_path: Path) -> None:
    clients.check_kubeferry_client(web.url, tmp_path / "client", bundle)


def test_wrapper_downloads_through_kuberlr_mirror_url(web: Nginx, tmp_path: Path, pki: Pki) -> None:
    clients.check_wrapper(web.url, tmp_path / "client", pki)


def test_kubectl_digests_and_stable_files(web: Nginx, bundle: Path) -> None:
    clients.check_kubectl_digests(web.url, bundle)


def test_install_script_requests_and_encoded_plus(web: Nginx, bundle: Path, tmp_path: Path) -> None:
    clients.check_install_script(web.url, tmp_path / "script", bundle)
    channels = curl("-f", "-D", "-", f"{web.url}/update.k3s.io/v1-release/channels").stdout
    assert (header(channels, "Content-Type") or "").startswith("application/json")


def test_range_resume(web: Nginx, bundle: Path, tmp_path: Path) -> None:
    clients.check_range_resume(web.url, tmp_path / "range", bundle)


def test_head_etag_and_conditional_requests(web: Nginx) -> None:
    clients.check_conditional(web.url)


def test_escapes_are_refused(web: Nginx) -> None:
    clients.check_escapes_refused(web.url, allowed=(400, 403, 404))


def test_export_replaces_its_own_and_refuses_a_foreign_folder(
    bundle: Path, maker: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "tree"
    assert maker("mirror", "export", str(bundle), str(target)).code == 0
    again = maker("mirror", "export", str(bundle), str(target), "--json")
    assert again.code == 0 and again.json()["replaced_previous_export"] is True
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    refused = maker("mirror", "export", str(bundle), str(foreign))
    assert refused.code == 1 and "not empty" in refused.stderr and "--force" in refused.stderr
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
    forced = maker("mirror", "export", str(bundle), str(foreign), "--force")
    assert forced.code == 0 and not (foreign / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "tree"]  # no staging left


def test_export_of_a_damaged_bundle_changes_nothing(
    bundle: Path, maker: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "tree"
    assert maker("mirror", "export", str(bundle), str(target)).code == 0
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    damaged = tmp_path / "damaged"
    shutil.copytree(bundle, damaged)
    images = damaged / "k3s" / OLDER / "k3s-airgap-images-amd64.tar.zst"
    data = bytearray(images.read_bytes())
    data[-1] ^= 0xFF
    images.write_bytes(bytes(data))
    failed = maker("mirror", "export", str(damaged), str(target))
    assert failed.code == 1 and "does not match" in failed.stderr and str(images) in failed.stderr
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged", "tree"]


def test_export_refuses_conflicting_bundles(bundle: Path, maker: Cli, tmp_path: Path) -> None:
    other = edit_bundle(bundle, tmp_path / "other", {f"k3s/{STABLE}/k3s": b"different"})
    failed = maker("mirror", "export", str(bundle), str(other), str(tmp_path / "tree"))
    assert failed.code == 1 and str(bundle) in failed.stderr and str(other) in failed.stderr
    assert not (tmp_path / "tree").exists()


def test_export_never_replaces_a_folder_that_holds_a_bundle(
    bundle: Path, maker: Cli, tmp_path: Path
) -> None:
    """`--force` into the bundle's own parent (or the bundle, or a folder inside it) would delete
    the bundle when the old tree is retired: refused, nothing touched."""
    parent = tmp_path / "out"
    copy = parent / "b"
    shutil.copytree(bundle, copy)
    before = sorted(p.relative_to(parent).as_posix() for p in parent.rglob("*"))
    for target in (parent, copy, copy / "tree"):
        refused = maker("mirror", "export", str(copy), str(target), "--force")
        assert refused.code == 1 and "would delete the bundle" in refused.stderr, target
    assert sorted(p.relative_to(parent).as_posix() for p in parent.rglob("*")) == before


def test_catalog_update_from_a_plain_static_host_falls_back_to_channels_json(
    exported: Path, public: Path, tmp_path: Path
) -> None:
    """No nginx snippet (S3 or Artifactory hosting): `channels` is a folder, answered 403."""
    with Nginx(exported, public / "nginx-plain") as plain:
        folder = curl("-o", "/dev/null", "-w", "%{http_code}", "-L",
                      f"{plain.url}/update.k3s.io/v1-release/channels").stdout  # fmt: skip
        assert folder == b"403"
        home = tmp_path / "home"
        home.mkdir()
        client = Cli(home, child_environment(home))
        result = client("catalog", "update", "--json", env={"KUBEFERRY_MIRROR": plain.url})
        assert result.code == 0, result.stderr
        assert result.json()["channels"]["stable"] == STABLE.split("+")[0].lstrip("v")


def test_nginx_answers_get_k3s_io_and_the_install_script_of_each_tag(web: Nginx) -> None:
    from tests.support.install_script import stand_in_install_script
    from tests.support.sample import OLDER

    assert curl("-sfL", f"{web.url}/get.k3s.io/").stdout == stand_in_install_script(STABLE)
    assert curl("-sfL", f"{web.url}/get.k3s.io").stdout == stand_in_install_script(STABLE)
    at_tag = f"{web.url}/raw.githubusercontent.com/k3s-io/k3s/{OLDER}/install.sh"
    assert curl("-sfL", at_tag).stdout == stand_in_install_script(OLDER)
