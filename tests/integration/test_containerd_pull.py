"""Real containerd pulls through `mirror serve` with the hosts.toml `registries write` made, and
runs the image: a workload image collected from a Distribution standing in for docker.io, and a
k3s airgap image from a bundled archive."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.integration.test_mirror_registry import AIRGAP_NAME, make_image_bundle
from tests.support import containerd as containerd_support
from tests.support import registry as registry_support
from tests.support.containerd import Containerd
from tests.support.mirror import MirrorProcess
from tests.support.registry import start_registry
from tests.support.workload import GREETING, busybox_path, have_skopeo

pytestmark = [
    pytest.mark.skipif(
        containerd_support.unavailable() is not None, reason=str(containerd_support.unavailable())
    ),
    pytest.mark.skipif(
        registry_support.available() is not None, reason=str(registry_support.available())
    ),
    pytest.mark.skipif(not have_skopeo(), reason="skopeo is not installed: apt-get install skopeo"),
    pytest.mark.skipif(busybox_path() is None, reason="busybox-static is not installed"),
]


def test_containerd_pulls_and_runs_bundled_images_through_the_mirror(
    cli: Cli, tmp_path: Path
) -> None:
    registry = start_registry(tmp_path / "registry")
    try:
        bundle, built = make_image_bundle(cli, registry, tmp_path)
    finally:
        registry.stop()  # from here on only the bundle exists: nothing else could answer
    verified = cli("bundle", "verify", str(bundle))
    assert verified.code == 0, verified.stdout
    extra = ("--blob-cache", str(tmp_path / "blob-cache"))
    with MirrorProcess(cli.env, bundle, extra=extra) as mirror:
        hosts = tmp_path / "hosts"
        written = cli(
            "registries", "write", "--mirror", mirror.base, "--plain-http",
            "--registry", "docker.io", "--for", "containerd", str(hosts),
        )  # fmt: skip
        assert written.code == 0, written.stderr
        assert "rewrite" not in (hosts / "docker.io" / "hosts.toml").read_text()
        runtime = Containerd(Path(tempfile.mkdtemp(prefix="kf-ctd-")))  # a short socket path
        try:
            for name, line in (
                ("docker.io/library/hello:1.0", GREETING),
                (AIRGAP_NAME, f"{GREETING} (airgap)"),
            ):
                runtime.ctr("images", "pull", "--hosts-dir", str(hosts), name)
                listed = runtime.ctr("images", "ls", "-q").stdout.split()
                assert name in listed
                ran = runtime.ctr("run", "--rm", name, f"kf-{len(line)}")
                assert ran.stdout.strip() == line
            digest = runtime.ctr("images", "ls").stdout
            assert built["hello"].digest in digest
        finally:
            runtime.stop()
            assert runtime.cgroups() == []
            assert not (Path("/run/containerd/runc") / runtime.namespace).exists()
    assert "?ns=docker.io" in mirror.stderr  # containerd named its registry
