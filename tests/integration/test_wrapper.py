"""The kubectl wrapper with real kubectl binaries and a local TLS /version server."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.apiserver import Pki, cert_user, token_user
from tests.support.upstream import LocalUpstream
from tests.support.wrapper import OFFLINE_COMMAND, Wrapper, make_wrapper, write_config

pytestmark = pytest.mark.kubectl


@pytest.fixture
def wrapper(cli: Cli, tmp_path: Path, real_kubectls: dict[str, Path]) -> Wrapper:
    return make_wrapper(cli, tmp_path)


_config = write_config


@pytest.mark.parametrize(
    ("server", "available", "chosen"),
    [
        ("v1.31.2+k3s1", ["1.29.4", "1.31.9", "1.33.9"], "v1.31.9"),
        ("v1.30.6+k3s1", ["1.29.4", "1.31.9", "1.33.9"], "v1.31.9"),
        ("v1.32.1+k3s1", ["1.31.9", "1.33.9"], "v1.33.9"),
        ("v1.34.1+k3s1", ["1.29.4", "1.33.9"], "v1.33.9"),
    ],
    ids=["own-minor", "plus-one-before-minus-one", "plus-one", "minus-one"],
)
def test_selection(
    wrapper: Wrapper,
    pki: Pki,
    cluster,
    real_kubectls,
    server: str,
    available: list[str],
    chosen: str,
) -> None:
    api = cluster(server)
    _config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide(*available, store=real_kubectls)
    result = wrapper("version", "-o", "json")
    assert result.code == 0, result.stderr
    assert api.state.version_requests == 2  # our probe, then kubectl's own `version` call
    versions = json.loads(result.stdout)
    assert versions["clientVersion"]["gitVersion"] == chosen
    assert versions["serverVersion"]["gitVersion"] == server  # kubectl itself reached it too


def test_none_fits_offline_exits_255_with_what_to_bring(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.36.2+k3s1")
    _config(wrapper, pki, {"k": (api, token_user())}, "k")
    wrapper.provide("1.29.4", "1.33.9", store=real_kubectls)
    result = wrapper("get", "pods", env={"KUBEFERRY_OFFLINE": "1"})
    assert result.code == 255
    message = result.stderr
    for words in (
        "Kubernetes 1.36.2",
        "1.35 - 1.37",
        str(wrapper.local_dir),
        "1.29.4, 1.33.9",
        f"{wrapper.local_dir}/kubectl1.36.2",
        "KUBEFERRY_OFFLINE=1",
        "https://dl.k8s.io/release/v1.36.2/bin/linux/amd64/kubectl",
        "kubeferry kubectl get 1.36",
    ):
        assert words in message, words


def test_token_and_exec_plugin_contexts(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls, tmp_path: Path
) -> None:
    old, new = cluster("v1.29.9+k3s1"), cluster("v1.30.2+k3s1")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, os\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
        "'kind': 'ExecCredential', 'status': {'token': 's3cret'}}))\n"
    )
    exec_user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    _config(wrapper, pki, {"tok": (old, token_user()), "ex": (new, exec_user)}, "tok")
    # 1.33.9 is the newest: a failed probe would fall back to it, so only a probe that
    # authenticated (token, exec plugin) can pick 1.29.4 and 1.31.9.
    wrapper.provide("1.29.4", "1.31.9", "1.33.9", store=real_kubectls)
    assert wrapper.client_version() == "v1.29.4"
    assert wrapper.client_version("--context", "ex") == "v1.31.9"
    assert wrapper.client_version("--context=ex") == "v1.31.9"
    assert (old.state.version_requests, new.state.version_requests) >= (1, 1)


def test_wrong_token_is_kubectls_own_error(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.33.2+k3s1")
    _config(wrapper, pki, {"k": (api, token_user("wrong"))}, "k")
    wrapper.provide("1.33.9", store=real_kubectls)
    result = wrapper("get", "--raw", "/version")
    assert result.code == 1
    assert "You must be logged in to the server" in result.stderr


def test_kubeconfig_flag_and_list(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls, tmp_path: Path
) -> None:
    old, new = cluster("v1.29.9+k3s1"), cluster("v1.31.2+k3s1")
    first = _config(wrapper, pki, {"old": (old, cert_user(pki))}, "old", tmp_path / "a.yaml")
    second = _config(wrapper, pki, {"new": (new, cert_user(pki))}, "new", tmp_path / "b.yaml")
    wrapper.provide("1.29.4", "1.31.9", "1.33.9", store=real_kubectls)  # 1.33.9: the fallback
    assert wrapper.client_version("--kubeconfig", str(second)) == "v1.31.9"
    listing = {"KUBECONFIG": f"{first}{os.pathsep}{second}"}
    assert wrapper.client_version(env=listing) == "v1.29.4"  # current-context of the first file
    assert wrapper.client_version("--context", "new", env=listing) == "v1.31.9"


def test_warm_call_does_not_ask_the_server(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.31.2+k3s1")
    _config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.31.9", "1.33.9", store=real_kubectls)
    no_revalidation = {"KUBEFERRY_REVALIDATE_AFTER": "3600"}
    for _ in range(3):
        assert wrapper("get", "--raw", "/nope", env=no_revalidation).code == 1
    assert api.state.version_requests == 1  # the first call's probe; kubectl asked for /nope
    assert wrapper.client_version(env={"KUBEFERRY_VERSION_CACHE_TTL": "0"}) == "v1.31.9"
    assert api.state.version_requests == 3  # TTL 0: probe again, then kubectl's own request


def test_unreachable_server_uses_last_known_then_newest(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.29.9+k3s1")
    _config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.29.4", "1.33.9", store=real_kubectls)
    assert wrapper.client_version() == "v1.29.4"
    api.stop()
    no_cache = {"KUBEFERRY_VERSION_CACHE_TTL": "0"}
    assert wrapper.client_version(env=no_cache) == "v1.29.4"
    wrapper.cache_file.unlink()
    result = wrapper("version", "-o", "json", env=no_cache)
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == "v1.33.9"
    assert "kubeferry:" not in result.stderr  # a cluster that is off is no news: kubectl says it


def test_exit_code_passes_through(wrapper: Wrapper, pki: Pki, cluster, real_kubectls) -> None:
    api = cluster("v1.33.2+k3s1")
    _config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.33.9", store=real_kubectls)
    result = wrapper("get", "--raw", "/nope")
    assert result.code == 1
    assert "could not find the requested resource" in result.stderr


def test_recursion_guard_stops_exec_plugin_loops(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls, tmp_path: Path
) -> None:
    api = cluster("v1.29.9+k3s1")
    calls = tmp_path / "plugin-calls"
    plugin = tmp_path / "plugin.py"
    # like `kubectl oidc-login`: the plugin runs kubectl itself before printing the credential
    plugin.write_text(
        "import json, os, subprocess, sys\n"
        f"guard = os.environ.get('KUBERLR_RESOLVING_VERSION', '-')\n"
        f"open({str(calls)!r}, 'a').write(guard + '\\n')\n"
        f"subprocess.run([{str(wrapper.bin_dir / 'kubectl')!r}, *{OFFLINE_COMMAND!r}],"
        " stdout=subprocess.DEVNULL, check=True, timeout=30)\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', "
        "'kind': 'ExecCredential', 'status': {'token': 's3cret'}}))\n"
    )
    exec_user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin)],
        }
    }
    _config(wrapper, pki, {"k": (api, exec_user)}, "k")
    wrapper.provide("1.29.4", "1.33.9", store=real_kubectls)
    result = wrapper("get", "--raw", "/version", env={"KUBEFERRY_VERSION_CACHE_TTL": "0"})
    assert result.code == 0, result.stderr
    # Our probe runs the plugin (guard set); its nested kubectl does not probe again. Then kubectl
    # 1.29.4 runs the plugin (guard unset, as kuberlr leaves it); that nested wrapper probes once
    # (TTL 0), and that probe's plugin call ends it. Bounded: no loop of thousands of processes.
    assert calls.read_text().splitlines() == ["1", "-", "1"]
    assert '"gitVersion": "v1.29.9+k3s1"' in result.stdout


def test_download_from_mirror_verified(wrapper: Wrapper, pki: Pki, cluster, real_kubectls) -> None:
    api = cluster("v1.31.2+k3s1")
    _config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.29.4", store=real_kubectls)  # 1.29 is two minors from 1.31: no fit
    data = real_kubectls["1.31.9"].read_bytes()
    with LocalUpstream() as mirror:
        base = "/dl/release/v1.31.2/bin/linux/amd64/kubectl"
        mirror.state.files[base] = data
        mirror.state.files[base + ".sha256"] = hashlib.sha256(data).hexdigest().encode()
        env = {"KUBEFERRY_KUBECTL_MIRROR_URL": f"{mirror.url}/dl"}
        result = wrapper("version", "-o", "json", env=env)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == "v1.31.9"
    assert (wrapper.local_dir / "kubectl1.31.2").read_bytes() == data
    assert "downloading 1.31.2" in result.stderr


def test_download_with_wrong_sha256_is_refused(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.31.2+k3s1")
    _config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    with LocalUpstream() as mirror:
        base = "/dl/release/v1.31.2/bin/linux/amd64/kubectl"
        mirror.state.files[base] = real_kubectls["1.31.9"].read_bytes()
        mirror.state.files[base + ".sha256"] = b"0" * 64
        result = wrapper("version", env={"KUBEFERRY_KUBECTL_MIRROR_URL": f"{mirror.url}/dl"})
    assert result.code == 255
    assert "has sha256" in result.stderr and "expected 0000" in result.stderr
    assert not wrapper.local_dir.exists() or list(wrapper.local_dir.iterdir()) == []


def test_kubeferry_kubectl_get_list_which(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.31.2+k3s1")
    _config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    data = real_kubectls["1.31.9"].read_bytes()
    with LocalUpstream() as mirror:
        base = "/dl/release/v1.31.9/bin/linux/amd64/kubectl"
        mirror.state.files["/dl/release/stable-1.31.txt"] = b"v1.31.9\n"
        mirror.state.files[base] = data
        mirror.state.files[base + ".sha512"] = hashlib.sha512(data).hexdigest().encode()
        got = wrapper.cli(
            "kubectl",
            "get",
            "1.31",
            "--arch",
            "amd64",
            "--os",
            "linux",
            env={"KUBEFERRY_KUBECTL_MIRROR_URL": f"{mirror.url}/dl"},
        )
    assert got.code == 0, got.stderr
    assert (wrapper.local_dir / "kubectl1.31.9").read_bytes() == data
    listing = wrapper.cli("kubectl", "list", "--json", env=wrapper.env).json()
    assert [k["version"] for k in listing["kubectls"]] == ["1.31.9"]
    which = wrapper.cli("kubectl", "which", "--json", env=wrapper.env)
    assert which.code == 0, which.stderr
    assert which.json()["path"] == str(wrapper.local_dir / "kubectl1.31.9")
    assert which.json()["server"] == "1.31.2"
    assert any("same minor" in r for r in which.json()["reasons"])


def test_token_file_and_insecure_cluster(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls, tmp_path: Path
) -> None:
    api = cluster("v1.33.2+k3s1")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    config = _config(wrapper, pki, {"k": (api, {"tokenFile": str(token_file)})}, "k")
    document = config.read_text().replace("certificate-authority-data", "insecure-skip-tls-verify")
    config.write_text(document.replace(pki.b64("ca.crt"), "true"))
    wrapper.provide("1.29.4", "1.33.9", store=real_kubectls)
    which = wrapper.cli("kubectl", "which", "--json", env=wrapper.env)
    assert which.code == 0, which.stderr
    assert which.json()["server"] == "1.33.2" and which.json()["version"] == "1.33.9"


def test_shim_install_warns_about_a_shadowing_kubectl(cli: Cli, tmp_path: Path) -> None:
    first, ours = tmp_path / "first", tmp_path / "ours"
    first.mkdir()
    (first / "kubectl").write_text("#!/bin/sh\n")
    (first / "kubectl").chmod(0o755)
    path = f"{first}{os.pathsep}{ours}{os.pathsep}/usr/bin"
    result = cli("shim", "install", "--dir", str(ours), env={"PATH": path})
    assert result.code == 0
    assert (
        f"{first / 'kubectl'} comes first on PATH and shadows {ours / 'kubectl'}" in result.stderr
    )
    again = cli("shim", "install", "--dir", str(first), env={"PATH": path})
    assert again.code == 1 and "is not the kubeferry wrapper" in again.stderr
    assert (first / "kubectl").read_text() == "#!/bin/sh\n"
