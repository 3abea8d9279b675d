"""Issue 18, cases 2 and 12, where the machine itself cannot hold the scene: the in-cluster
configuration at the pod's fixed path (a mount namespace) and an IP-literal server that is not
loopback (a network namespace). Real kubectl 1.31.9 and the wrapper run side by side there."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import namespace
from tests.support.apiserver import NAMESPACE_IP, Pki
from tests.support.wrapper import Wrapper

pytestmark = pytest.mark.kubectl


def _can_unshare(flag: str) -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", flag, "true"], capture_output=True, check=False)
    return done.returncode == 0


def _spec(wrapper: Wrapper, pki: Pki, kubectls: dict[str, Path], **extra: Any) -> dict[str, Any]:
    return {
        "pki": str(pki.folder),
        "kubectl": str(kubectls["1.31.9"]),
        "wrapper": str(wrapper.bin_dir / "kubectl"),
        "home": str(wrapper.cli.home),
        "env": wrapper.env,
        **extra,
    }


def _assert_same(result: dict[str, Any], minor: str) -> None:
    kubectl = result["kubectl"]
    probe = [r for r in result["after"] if r["agent"].startswith("kubeferry")]
    ran_by_wrapper = [r for r in result["after"] if r["agent"].startswith("kubectl")]
    assert result["direct"]["code"] == 0, result["direct"]["stderr"]
    assert len(kubectl) == 1 and len(probe) == 1, result
    for key in ("path", "authorization", "client_cn", "impersonate"):
        assert probe[0][key] == kubectl[0][key], key
    assert len(ran_by_wrapper) == 1
    ran = json.loads(result["wrapped"]["stdout"])["clientVersion"]["gitVersion"]
    assert ran.startswith(f"v1.{minor}."), result["wrapped"]["stderr"]


@pytest.mark.skipif(not _can_unshare("-m"), reason="needs a mount namespace (unshare -m, root)")
@pytest.mark.parametrize("kubeconfig", ["none", "no-current-context"])
def test_in_cluster_side_by_side(
    wrapper: Wrapper, pki: Pki, real_kubectls: dict[str, Path], tmp_path: Path, kubeconfig: str
) -> None:
    """Case 2: no usable current context in a pod: the service account, as kubectl does."""
    env = dict(wrapper.env)
    if kubeconfig == "none":
        env["KUBECONFIG"] = str(tmp_path / "missing")
    else:
        config = tmp_path / "kc"
        config.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster:\n"
            "    server: https://127.0.0.1:1\n"
        )
        env["KUBECONFIG"] = str(config)
    spec = _spec(wrapper, pki, real_kubectls, version="v1.29.0")
    result = namespace.run("in_cluster", {**spec, "env": env})
    _assert_same(result, "29")
    assert result["kubectl"][0]["authorization"] == "Bearer s3cret"  # the pod's token


@pytest.mark.skipif(not _can_unshare("-n"), reason="needs a network namespace (unshare -n, root)")
@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [("250.0.1", True), (".250.0.1", True), (NAMESPACE_IP, False), ("10.0.0.0/8", False)],
    ids=["domain-suffix", "dot-domain-suffix", "the-ip", "cidr"],
)
def test_no_proxy_domains_do_not_match_ip_servers(
    wrapper: Wrapper, pki: Pki, real_kubectls: dict[str, Path], no_proxy: str, proxied: bool
) -> None:
    """Case 12: a NO_PROXY domain entry never matches an IP-literal server (Go since 2023);
    an IP or CIDR entry does."""
    spec = _spec(wrapper, pki, real_kubectls, version="v1.33.2", no_proxy=no_proxy)
    result = namespace.run("no_proxy", spec)
    _assert_same(result, "33")
    port = result["server"].rsplit(":", 1)[1]
    expected = [f"{NAMESPACE_IP}:{port}"] * 3 if proxied else []  # kubectl, probe, kubectl
    assert result["tunnels"] == expected
