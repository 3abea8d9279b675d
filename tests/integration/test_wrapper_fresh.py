"""Freshness and cost: upgrades seen on the second call, dead clusters remembered, client-only
commands never probing, a fresh machine, bad configuration, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.support.apiserver import BlackHole, Pki, cert_user, kubeconfig, token_user
from tests.support.upstream import LocalUpstream
from tests.support.wrapper import OFFLINE_COMMAND, Wrapper, make_wrapper, write_config

pytestmark = pytest.mark.kubectl


@pytest.fixture
def wrapper(cli: Cli, tmp_path: Path, real_kubectls: dict[str, Path]) -> Wrapper:
    return make_wrapper(cli, tmp_path)


def _checked_at(wrapper: Wrapper) -> float:
    lines = wrapper.cache_file.read_text().splitlines()
    return max(float(line.split("\t")[-1]) for line in lines if line.startswith("cluster\t"))


def test_second_call_after_an_upgrade_runs_the_new_kubectl(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.30.6+k3s1")
    write_config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.29.4", "1.31.9", "1.33.9", store=real_kubectls)
    assert wrapper.client_version() == "v1.31.9"  # cold: probed, cached (default TTL, 60 s)
    api.state.git_version = "v1.33.2+k3s1"  # the cluster is upgraded
    # the cached answer must be older than the revalidation age (2 s) for a refresh to start
    while time.time() - _checked_at(wrapper) < 2.05:
        time.sleep(0.05)
    first = wrapper("version", "-o", "json")
    assert json.loads(first.stdout)["clientVersion"]["gitVersion"] == "v1.31.9"  # from cache
    wrapper.wait_for_refresher()
    assert wrapper.client_version() == "v1.33.9"  # the second call after the upgrade
    assert "cluster\t" in wrapper.cache_file.read_text()


def test_a_hanging_refresh_delays_nothing(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.30.6+k3s1")
    write_config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.31.9", "1.33.9", store=real_kubectls)
    assert wrapper.client_version() == "v1.31.9"
    api.stop()
    port = int(api.url.rsplit(":", 1)[1])
    lock = wrapper.cache_file.with_name("server-versions.refreshing")
    with BlackHole(port):  # the same server now accepts and never answers
        while time.time() - _checked_at(wrapper) < 2.05:
            time.sleep(0.05)
        began = time.monotonic()
        result = wrapper(*OFFLINE_COMMAND, env={"KUBERLR_TIMEOUT": "5"})
        took = time.monotonic() - began
        assert lock.exists()  # the refresher is still waiting on the black hole ...
    assert result.code == 0, result.stderr
    assert took < 2  # ... yet the call returned: it held no pipe and delayed no exec
    wrapper.wait_for_refresher()
    assert wrapper.client_version() == "v1.31.9"  # a failed refresh keeps the cached answer


def test_fresh_answer_starts_no_refresher(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls
) -> None:
    api = cluster("v1.30.6+k3s1")
    write_config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.31.9", store=real_kubectls)
    slow = {"KUBEFERRY_REVALIDATE_AFTER": "3600"}
    for _ in range(3):
        assert wrapper(*OFFLINE_COMMAND, env=slow).code == 0
    wrapper.wait_for_refresher()
    assert api.state.connections == 1


def test_black_holed_server_costs_one_timeout(wrapper: Wrapper, pki: Pki, real_kubectls) -> None:
    wrapper.provide("1.29.4", "1.33.9", store=real_kubectls)
    with BlackHole() as hole:
        kubeconfig(wrapper.cli.home / ".kube" / "config", {"k": (hole.url, token_user())}, pki, "k")
        env = {"KUBERLR_TIMEOUT": "3"}
        began = time.monotonic()
        first = wrapper(*OFFLINE_COMMAND, env=env)
        first_took = time.monotonic() - began
        began = time.monotonic()
        second = wrapper(*OFFLINE_COMMAND, env=env)
        second_took = time.monotonic() - began
    assert first.code == 0 and second.code == 0, first.stderr + second.stderr
    assert first_took >= 3  # the probe waited for the whole Timeout
    assert second_took < 2  # generous: the failure was remembered, nothing was asked
    assert "\nfail\t" in wrapper.cache_file.read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["version", "--client", "-o", "json"],
        ["version", "--client=true", "-o", "json"],
        ["completion", "bash"],
        ["help"],
        ["--help"],
        ["get", "pods", "-h"],
        ["config", "view"],
        ["plugin", "list"],
        [],
    ],
    ids=lambda args: "_".join(args) or "no-arguments",
)
def test_client_only_commands_never_ask(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls, args: list[str]
) -> None:
    api = cluster("v1.29.9+k3s1")
    write_config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.29.4", "1.33.9", store=real_kubectls)
    result = wrapper(*args)
    assert api.state.connections == 0 and api.state.requests == 0
    if args[:2] == ["version", "--client"] or args[:2] == ["version", "--client=true"]:
        assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == "v1.33.9"  # newest
    assert result.stdout or result.stderr
    wrapper.wait_for_refresher()
    assert api.state.connections == 0


def test_kustomize_never_asks(
    wrapper: Wrapper, pki: Pki, cluster, real_kubectls, tmp_path: Path
) -> None:
    api = cluster("v1.29.9+k3s1")
    write_config(wrapper, pki, {"k": (api, cert_user(pki))}, "k")
    wrapper.provide("1.33.9", store=real_kubectls)
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text("configMapGenerator:\n- name: x\n")
    result = wrapper("kustomize", str(tmp_path / "k"))
    assert result.code == 0, result.stderr
    assert "kind: ConfigMap" in result.stdout
    assert api.state.connections == 0


def _stable_mirror(mirror: LocalUpstream, data: bytes, version: str = "v1.31.9") -> None:
    base = f"/dl/release/{version}/bin/linux/amd64/kubectl"
    mirror.state.files["/dl/release/stable.txt"] = f"{version}\n".encode()
    mirror.state.files[base] = data
    mirror.state.files[base + ".sha256"] = hashlib.sha256(data).hexdigest().encode()


def test_fresh_machine_downloads_the_stable_release(wrapper: Wrapper, real_kubectls) -> None:
    data = real_kubectls["1.31.9"].read_bytes()
    with LocalUpstream() as mirror:
        _stable_mirror(mirror, data)
        env = {"KUBEFERRY_KUBECTL_MIRROR_URL": f"{mirror.url}/dl"}
        result = wrapper("version", "--client", "-o", "json", env=env)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == "v1.31.9"
    assert (wrapper.local_dir / "kubectl1.31.9").read_bytes() == data
    assert "stable.txt" in result.stderr


def test_fresh_machine_offline_says_what_to_do(wrapper: Wrapper) -> None:
    result = wrapper("get", "pods", env={"KUBEFERRY_OFFLINE": "1"})
    assert result.code == 255
    assert "no kubectl to run" in result.stderr and str(wrapper.local_dir) in result.stderr
    off = wrapper("get", "pods", env={"KUBERLR_ALLOWDOWNLOAD": "F"})
    assert off.code == 255 and "no kubectl to run" in off.stderr


@pytest.mark.parametrize(
    ("file_text", "env", "words"),
    [
        (None, {"KUBERLR_TIMEOUT": "abc"}, ["KUBERLR_TIMEOUT is 'abc'", "whole number"]),
        ('Timeout = "abc"\n', {}, ["Timeout in {conf} is 'abc'"]),
        ("Timeout = 2.5\n", {}, ["Timeout in {conf} is 2.5"]),
        ('AllowDownload = "yes"\n', {}, ["AllowDownload in {conf} is 'yes'", "ParseBool"]),
        (None, {"KUBERLR_ALLOWDOWNLOAD": "nope"}, ["KUBERLR_ALLOWDOWNLOAD is 'nope'"]),
        (None, {"KUBEFERRY_OFFLINE": "maybe"}, ["KUBEFERRY_OFFLINE='maybe' is not a boolean"]),
        (None, {"KUBEFERRY_VERSION_CACHE_TTL": "x"}, ["KUBEFERRY_VERSION_CACHE_TTL='x'"]),
    ],
    ids=["env-timeout", "file-timeout", "file-float", "file-bool", "env-bool", "offline", "ttl"],
)
def test_bad_config_values_exit_255_with_the_key(
    wrapper: Wrapper,
    real_kubectls,
    tmp_path: Path,
    file_text: str | None,
    env: dict[str, str],
    words: list[str],
) -> None:
    wrapper.provide("1.33.9", store=real_kubectls)
    conf = tmp_path / "kuberlr.conf"
    if file_text is not None:
        conf.write_text(file_text)
        env = {**env, "KUBERLR_CFG": str(conf)}
    result = wrapper("get", "pods", env=env)
    assert result.code == 255
    assert "Traceback" not in result.stderr
    for word in words:
        assert word.format(conf=conf) in result.stderr, result.stderr


def test_ctrl_c_during_the_probe_exits_130(wrapper: Wrapper, pki: Pki, real_kubectls) -> None:
    wrapper.provide("1.33.9", store=real_kubectls)
    with BlackHole() as hole:
        kubeconfig(wrapper.cli.home / ".kube" / "config", {"k": (hole.url, token_user())}, pki, "k")
        child = subprocess.Popen(
            [str(wrapper.bin_dir / "kubectl"), "get", "pods"],
            env={**wrapper.env, "KUBERLR_TIMEOUT": "30"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        hole.wait_for_connection(timeout=20)  # the probe is waiting on the black hole now
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == 130
    assert "Traceback" not in stderr
