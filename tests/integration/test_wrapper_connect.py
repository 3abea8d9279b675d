"""The probe reaches the cluster as kubectl does: proxies, in-cluster config, token files, exec
plugins. Each case offers 1.33.9 as the newest local kubectl, so only a probe that really got the
server's answer can pick the other one."""

from __future__ import annotations

import json
import os
import pty
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import SERVER_NAME, ApiServer, Pki, cert_user, kubeconfig, token_user
from tests.support.connect_proxy import ConnectProxy
from tests.support.wrapper import OFFLINE_COMMAND, Wrapper, write_config

pytestmark = pytest.mark.kubectl


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


def _named(api: ApiServer) -> str:
    """The server's URL under a name only the proxy can resolve (to 127.0.0.1)."""
    return api.url.replace("127.0.0.1", SERVER_NAME)


def _config_for(wrapper: Wrapper, pki: Pki, server: str, user: dict, **cluster: object) -> Path:
    path = wrapper.cli.home / ".kube" / "config"
    kubeconfig(path, {"k": (server, user)}, pki, "k")
    document = json.loads(json.dumps(__import__("yaml").safe_load(path.read_text())))
    document["clusters"][0]["cluster"].update(cluster)
    path.write_text(json.dumps(document))
    return path


def test_proxy_url_in_the_kubeconfig(
    wrapper: Wrapper, pki: Pki, cluster, proxy: ConnectProxy
) -> None:
    api = cluster("v1.30.6+k3s1")
    _config_for(wrapper, pki, _named(api), token_user(), **{"proxy-url": proxy.url})
    result = wrapper("version", "-o", "json")
    assert result.code == 0, result.stderr
    versions = json.loads(result.stdout)
    assert versions["clientVersion"]["gitVersion"] == "v1.31.9"  # 1.30 server: 1.31, not 1.33
    assert versions["serverVersion"]["gitVersion"] == "v1.30.6+k3s1"  # kubectl went through too
    port = api.url.rsplit(":", 1)[1]
    assert proxy.state.targets[:2] == [f"{SERVER_NAME}:{port}"] * 2  # our probe, then kubectl
    assert api.state.version_requests == 2


def test_proxy_url_applies_even_to_loopback(
    wrapper: Wrapper, pki: Pki, cluster, proxy: ConnectProxy
) -> None:
    api = cluster("v1.30.6+k3s1")
    _config_for(wrapper, pki, api.url, token_user(), **{"proxy-url": proxy.url})
    assert wrapper.client_version() == "v1.31.9"
    assert proxy.state.tunnels == 2


def test_https_proxy_and_no_proxy(wrapper: Wrapper, pki: Pki, cluster, proxy: ConnectProxy) -> None:
    api = cluster("v1.30.6+k3s1")
    _config_for(wrapper, pki, _named(api), token_user())
    bare = proxy.url.removeprefix("http://")  # Go adds http:// to a proxy without a scheme
    via_proxy = {"HTTPS_PROXY": bare, "NO_PROXY": "other.test,10.0.0.0/8,.example.org"}
    assert wrapper.client_version(env=via_proxy) == "v1.31.9"
    assert proxy.state.tunnels == 2
    wrapper.cache_file.unlink()
    for listed in ("example.test", ".example.test", f"{SERVER_NAME}", "*"):
        direct = {"HTTPS_PROXY": proxy.url, "no_proxy": listed, "KUBEFERRY_VERSION_CACHE_TTL": "0"}
        result = wrapper(*OFFLINE_COMMAND, env=direct)
        assert result.code == 0, result.stderr
        # direct: the name does not resolve, so the probe failed, and no tunnel was asked for
        assert proxy.state.tunnels == 2, listed


def test_https_proxy_never_for_loopback(
    wrapper: Wrapper, pki: Pki, cluster, proxy: ConnectProxy
) -> None:
    api = cluster("v1.30.6+k3s1")
    _config_for(wrapper, pki, api.url, token_user())
    assert wrapper.client_version(env={"HTTPS_PROXY": proxy.url}) == "v1.31.9"
    assert proxy.state.tunnels == 0


def test_socks5_proxy_is_refused_with_one_line(wrapper: Wrapper, pki: Pki, cluster) -> None:
    api = cluster("v1.30.6+k3s1")
    _config_for(wrapper, pki, api.url, token_user(), **{"proxy-url": "socks5://127.0.0.1:1"})
    result = wrapper(*OFFLINE_COMMAND)
    assert result.code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("kubeferry:")]
    assert len(lines) == 1, result.stderr
    assert "socks5://" in lines[0] and "using the newest local kubectl 1.33.9" in lines[0]


def test_token_file_beats_token(wrapper: Wrapper, pki: Pki, cluster, tmp_path: Path) -> None:
    api = cluster("v1.30.6+k3s1")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    user = {"token": "wrong", "tokenFile": str(token_file)}
    write_config(wrapper, pki, {"k": (api, user)}, "k")
    result = wrapper("version", "-o", "json")
    assert result.code == 0, result.stderr  # kubectl too reads the file, not the token
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == "v1.31.9"


def _plugin(folder: Path, log: Path, *, sleep: float = 0) -> Path:
    """An exec credential plugin that logs what it saw and prints the token."""
    script = folder / "bin" / "credential"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, time\n"
        f"time.sleep({sleep})\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    out.write(json.dumps({'info': json.loads(os.environ['KUBERNETES_EXEC_INFO']),\n"
        "        'tty': os.isatty(0), 'cwd': os.getcwd()}) + '\\n')\n"
        "version = json.loads(os.environ['KUBERNETES_EXEC_INFO'])['apiVersion']\n"
        "print(json.dumps({'apiVersion': version,\n"
        "    'kind': 'ExecCredential', 'status': {'token': 's3cret'}}))\n"
    )
    script.chmod(0o755)
    return script


def _exec_user(mode: str | None = "Never", **extra: object) -> dict:
    config = {"apiVersion": "client.authentication.k8s.io/v1", "command": "./bin/credential"}
    if mode:
        config["interactiveMode"] = mode
    return {"exec": {**config, **extra}}


def test_relative_exec_command_and_cluster_info(
    wrapper: Wrapper, pki: Pki, cluster, tmp_path: Path, proxy: ConnectProxy
) -> None:
    api = cluster("v1.30.6+k3s1")
    folder, log = tmp_path / "kube", tmp_path / "plugin.log"
    _plugin(folder, log)
    config = kubeconfig(
        folder / "config", {"k": (api.url, _exec_user(provideClusterInfo=True))}, pki, "k"
    )
    env = {"KUBECONFIG": str(config), "HTTPS_PROXY": proxy.url}
    result = wrapper("version", "-o", "json", env=env)  # run from elsewhere: the repository
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == "v1.31.9"
    ours, kubectls = (json.loads(line) for line in log.read_text().splitlines()[:2])
    cluster_info = ours["info"]["spec"]["cluster"]
    assert cluster_info["server"] == api.url
    assert cluster_info["certificate-authority-data"] == pki.b64("ca.crt")
    assert ours["info"]["spec"]["interactive"] is False and ours["tty"] is False
    # what kubectl itself passes to the same plugin: the same cluster and mode
    assert kubectls["info"]["spec"]["cluster"]["server"] == cluster_info["server"]
    assert (
        kubectls["info"]["spec"]["cluster"]["certificate-authority-data"]
        == (cluster_info["certificate-authority-data"])
    )
    assert kubectls["info"]["spec"]["interactive"] == ours["info"]["spec"]["interactive"]


@pytest.mark.parametrize("mode", ["IfAvailable", None])
def test_interactive_exec_plugin_is_asked_once(
    wrapper: Wrapper, pki: Pki, cluster, tmp_path: Path, mode: str | None
) -> None:
    """On a terminal the plugin may ask a person: only kubectl runs it there (issue 18, case 11);
    the detached refresher runs it without a terminal and fills the cache for the next call."""
    api = cluster("v1.30.6+k3s1")
    folder, log = tmp_path / "kube", tmp_path / "plugin.log"
    _plugin(folder, log)
    user = _exec_user(mode, apiVersion="client.authentication.k8s.io/v1beta1")
    config = kubeconfig(folder / "config", {"k": (api.url, user)}, pki, "k")
    controller, terminal = pty.openpty()
    try:
        result = wrapper("version", "-o", "json", env={"KUBECONFIG": str(config)}, stdin=terminal)
        wrapper.wait_for_refresher()
        again = wrapper("version", "-o", "json", env={"KUBECONFIG": str(config)}, stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.code == 0, result.stderr
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    on_terminal = [run for run in runs if run["tty"]]
    assert len(on_terminal) == 2  # kubectl's own, once per call: the probe never took a turn
    assert all(run["info"]["spec"]["interactive"] for run in on_terminal)
    detached = [run for run in runs if not run["tty"]]
    assert [run["info"]["spec"]["interactive"] for run in detached] == [False]
    lines = [line for line in result.stderr.splitlines() if line.startswith("kubeferry:")]
    assert len(lines) == 1 and "may ask for input" in lines[0], result.stderr
    assert "using the newest local kubectl 1.33.9" in lines[0]
    # the refresher asked the server without a terminal: the second call is warm and right
    assert json.loads(again.stdout)["clientVersion"]["gitVersion"] == "v1.31.9"
    assert "kubeferry:" not in again.stderr


def test_exec_plugin_never_interactive_on_a_terminal(
    wrapper: Wrapper, pki: Pki, cluster, tmp_path: Path
) -> None:
    api = cluster("v1.30.6+k3s1")
    folder, log = tmp_path / "kube", tmp_path / "plugin.log"
    _plugin(folder, log)
    user = _exec_user("Never", apiVersion="client.authentication.k8s.io/v1beta1")
    config = kubeconfig(folder / "config", {"k": (api.url, user)}, pki, "k")
    controller, terminal = pty.openpty()
    try:
        result = wrapper(*OFFLINE_COMMAND, env={"KUBECONFIG": str(config)}, stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.code == 0, result.stderr
    ours = json.loads(log.read_text().splitlines()[0])
    assert ours["info"]["spec"]["interactive"] is False and ours["tty"] is False
    assert "kubeferry:" not in result.stderr


def test_hanging_exec_plugin_obeys_timeout(
    wrapper: Wrapper, pki: Pki, cluster, tmp_path: Path
) -> None:
    api = cluster("v1.30.6+k3s1")
    folder, log = tmp_path / "kube", tmp_path / "plugin.log"
    _plugin(folder, log, sleep=60)
    config = kubeconfig(folder / "config", {"k": (api.url, _exec_user())}, pki, "k")
    began = time.monotonic()
    result = wrapper(*OFFLINE_COMMAND, env={"KUBECONFIG": str(config), "KUBERLR_TIMEOUT": "1"})
    elapsed = time.monotonic() - began
    assert result.code == 0, result.stderr
    assert elapsed < 20  # generous: the plugin sleeps 60 s; Timeout = 1 s stopped it
    assert "gave no credential within 1 s" in result.stderr
    assert "using the newest local kubectl 1.33.9" in result.stderr


def test_in_cluster_config(wrapper: Wrapper, pki: Pki, cluster, tmp_path: Path) -> None:
    api = cluster("v1.30.6+k3s1")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("s3cret")
    (account / "ca.crt").write_bytes(pki.pem("ca.crt"))
    env = {
        "KUBECONFIG": str(tmp_path / "missing-kubeconfig"),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": api.url.rsplit(":", 1)[1],
        "KUBEFERRY_SERVICEACCOUNT_DIR": str(account),
    }
    # kubectl itself looks in the fixed service-account folder, so only the client side is
    # asserted: the probe read the token and CA from the pod's files and asked the service.
    assert wrapper.client_version(env=env) == "v1.31.9"
    assert api.state.version_requests == 1
    del env["KUBERNETES_SERVICE_HOST"]
    wrapper.cache_file.unlink()
    assert wrapper.client_version(env=env) == "v1.33.9"  # not in a pod: nothing to ask


def test_cert_user_still_works_through_proxy(
    wrapper: Wrapper, pki: Pki, cluster, proxy: ConnectProxy
) -> None:
    api = cluster("v1.30.6+k3s1")
    _config_for(wrapper, pki, _named(api), cert_user(pki), **{"proxy-url": proxy.url})
    assert wrapper.client_version() == "v1.31.9"
