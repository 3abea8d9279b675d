"""Signatures through a real CNCF Distribution registry: pushed as OCI referrers (and under the
referrers tag scheme, since Distribution 2.8 has no referrers API), fetched and checked by
`bundle pull` and `bundle install REF`; a deleted signature means a refused pull."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli
from tests.support import registry as registry_support
from tests.support.registry import Registry, start_registry
from tests.support.signing import (
    MANIFEST,
    TAG,
    make_bundle,
    openssl_missing,
    openssl_verifies,
)

pytestmark = [
    pytest.mark.skipif(
        registry_support.available() is not None, reason=str(registry_support.available())
    ),
    pytest.mark.skipif(openssl_missing() is not None, reason=str(openssl_missing())),
]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REPO = "platform/offline"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "registry")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a bundle signed by `bundle create --sign-key`, the key folder)."""
    root = tmp_path_factory.mktemp("regsig")
    home = root / "home"
    home.mkdir()
    from tests.conftest import child_environment

    keys = root / "keys"
    assert Cli(home, child_environment(home))("keys", "generate", str(keys)).code == 0
    return make_bundle(root, "bundle", "--sign-key", str(keys / "kubeferry.key")), keys


def _referrer(registry: Registry, subject: str) -> tuple[str, dict]:
    """(digest, manifest) of the one signature referrer, found through the tag scheme (read by
    skopeo when it is installed, an OCI client independent of kubeferry)."""
    api = httpx.get(f"{registry.url}/v2/{REPO}/referrers/{subject}")
    assert api.status_code == 404  # Distribution 2.8: no referrers API, hence the tag scheme
    tag = f"{registry.host}/{REPO}:{subject.replace(':', '-')}"
    index = json.loads(_raw(registry, tag, OCI_INDEX))
    assert index["mediaType"] == OCI_INDEX
    [entry] = index["manifests"]
    assert entry["artifactType"] == "application/vnd.kubeferry.signature.v1"
    referrer = f"{registry.host}/{REPO}@{entry['digest']}"
    manifest = json.loads(_raw(registry, referrer, OCI_MANIFEST))
    return entry["digest"], manifest


def _raw(registry: Registry, reference: str, accept: str) -> str:
    """A manifest as skopeo reads it (plain HTTP to the registry when skopeo is absent)."""
    if shutil.which("skopeo"):
        done = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout
    separator = "@" if "@" in reference else ":"
    name, _, wanted = reference.removeprefix(f"{registry.host}/").rpartition(separator)
    url = f"{registry.url}/v2/{name}/manifests/{wanted}"
    return httpx.get(url, headers={"Accept": accept}).text


def test_round_trip_with_signatures_then_a_deleted_signature_is_refused(
    registry: Registry, signed: tuple[Path, Path], cli: Cli, tmp_path: Path
) -> None:
    bundle, keys = signed
    public = str(keys / "kubeferry.pub")
    ref = f"{registry.host}/{REPO}:2026-12"
    pushed = cli("bundle", "push", str(bundle), ref, "--plain-http", "--json")
    assert pushed.code == 0, pushed.stderr
    [signature_name] = pushed.json()["signatures"]
    subject = pushed.json()["digest"]
    digest, referrer = _referrer(registry, subject)
    assert referrer["subject"]["digest"] == subject
    assert [
        layer["annotations"]["org.opencontainers.image.title"] for layer in referrer["layers"]
    ] == [signature_name]

    pulled = tmp_path / "pulled"
    result = cli("bundle", "pull", ref, str(pulled), "--plain-http", "--key", public, "--json")
    assert result.code == 0, result.stderr
    assert result.json()["signed_by"] and "kubeferry.pub" in result.json()["signed_by"][0]
    assert openssl_verifies(
        keys / "kubeferry.pub", pulled / MANIFEST, pulled / signature_name, tmp_path
    )
    k3s = pulled / "k3s" / TAG / "k3s"
    assert stat.S_IMODE(k3s.stat().st_mode) & 0o111  # the executable bit survives the registry
    assert cli("bundle", "verify", str(pulled), "--key", public).code == 0

    offline = Cli(cli.home, cli.env)
    installed = offline(
        "bundle", "install", ref, "--plain-http", "--key", public, "--arch", "amd64"
    )
    assert installed.code == 0, installed.stderr
    assert (offline.cache_dir / "k3s" / TAG / "k3s").is_file()

    deleted = httpx.delete(f"{registry.url}/v2/{REPO}/manifests/{digest}")
    assert deleted.status_code == 202
    again = tmp_path / "again"
    refused = cli("bundle", "pull", ref, str(again), "--plain-http", "--key", public)
    assert refused.code == 1
    assert ref in refused.stderr and "no signature" in refused.stderr
    assert not again.exists()  # nothing was fetched, no folder left behind
    fresh = tmp_path / "fresh-home"
    fresh.mkdir()
    other = Cli(fresh, {**cli.env, "HOME": str(fresh)})
    no_install = other("bundle", "install", ref, "--plain-http", "--key", public, "--arch", "amd64")
    assert no_install.code == 1 and "no signature" in no_install.stderr
    assert not (other.cache_dir / "k3s").exists()
    staging = other.cache_dir / ".kubeferry-pulled-bundles"
    assert not staging.exists() or list(staging.iterdir()) == []
    unchecked = cli("bundle", "pull", ref, str(tmp_path / "unchecked"), "--plain-http")
    assert unchecked.code == 0, unchecked.stderr  # no trusted key configured: not required


def test_failed_install_of_a_missing_tag_leaves_no_folder(
    registry: Registry, signed: tuple[Path, Path], cli: Cli
) -> None:
    bundle, _ = signed
    assert (
        cli("bundle", "push", str(bundle), f"{registry.host}/{REPO}:v1", "--plain-http").code == 0
    )
    result = cli("bundle", "install", f"{registry.host}/{REPO}:nope", "--plain-http")
    assert result.code == 1 and "does not exist" in result.stderr
    staging = cli.cache_dir / ".kubeferry-pulled-bundles"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_unsigned_bundle_pull_refused_with_a_trusted_key(
    registry: Registry, signed: tuple[Path, Path], cli: Cli, tmp_path: Path
) -> None:
    bundle, keys = signed
    unsigned = tmp_path / "unsigned"
    shutil.copytree(bundle, unsigned)
    for signature in unsigned.glob("*.sig"):
        signature.unlink()
    ref = f"{registry.host}/{REPO}:unsigned"
    assert cli("bundle", "push", str(unsigned), ref, "--plain-http").code == 0
    target = tmp_path / "target"
    result = cli(
        "bundle", "pull", ref, str(target), "--plain-http", "--key", str(keys / "kubeferry.pub")
    )
    assert result.code == 1 and "--allow-unsigned" in result.stderr
    assert not target.exists()
    allowed = cli(
        "bundle",
        "pull",
        ref,
        str(target),
        "--plain-http",
        "--key",
        str(keys / "kubeferry.pub"),
        "--allow-unsigned",
    )
    assert allowed.code == 0, allowed.stderr
