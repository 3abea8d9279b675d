"""The wrapper's rules as kubectl and kuberlr (Go) apply them: proxies, client-only commands,
config values, Windows signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kubeferry.core.environment import env_flag
from kubeferry.core.kuberlr_config import go_bool, load_config, whole_seconds
from kubeferry.errors import ConfigError
from kubeferry.shim.argv import client_only
from kubeferry.shim.connect import proxy_for, use_proxy


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "proxied"),
    [
        ("kube.example.test", "6443", "", True),
        ("localhost", "6443", "", False),
        ("127.0.0.1", "6443", "", False),
        ("127.9.9.9", "6443", "", False),
        ("::1", "6443", "", False),
        ("kube.example.test", "6443", "*", False),
        ("kube.example.test", "6443", "example.test", False),
        ("example.test", "6443", "example.test", False),
        ("kube.example.test", "6443", ".example.test", False),
        ("example.test", "6443", ".example.test", True),
        ("kube.example.test", "6443", "*.example.test", False),
        ("notexample.test", "6443", "example.test", True),
        ("kube.example.test", "6443", "example.test:443", True),
        ("kube.example.test", "443", "example.test:443", False),
        ("10.1.2.3", "6443", "10.0.0.0/8", False),
        ("11.1.2.3", "6443", "10.0.0.0/8", True),
        ("10.1.2.3", "6443", "10.1.2.3", False),
        ("10.1.2.3", "6443", " other.test , 10.1.2.3 ", False),
        ("fd00::5", "6443", "fd00::/8", False),
        ("KUBE.Example.TEST", "6443", "example.test", False),
    ],
    ids=lambda value: str(value).replace(" ", "") or "-",
)
def test_go_proxy_rules(host: str, port: str, no_proxy: str, proxied: bool) -> None:
    assert use_proxy(host, port, no_proxy) is proxied


def test_proxy_choice() -> None:
    env = {"HTTPS_PROXY": "proxy.corp:3128", "https_proxy": "http://lower:1", "NO_PROXY": ""}
    assert proxy_for("https://kube.example.test:6443", None, env) == "http://proxy.corp:3128"
    assert proxy_for("https://127.0.0.1:6443", None, env) is None
    # proxy-url in the kubeconfig applies whatever the host, NO_PROXY included
    always = {"NO_PROXY": "*"}
    assert proxy_for("https://127.0.0.1:6443", "http://p:1", always) == "http://p:1"
    assert proxy_for("http://kube.example.test", None, env) is None  # HTTP_PROXY is unset
    assert proxy_for("https://kube.example.test", None, {"https_proxy": "http://l:2"}) == (
        "http://l:2"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], True),
        (["version", "--client"], True),
        (["version", "--client=true"], True),
        (["version", "--client=false"], False),
        (["version"], False),
        (["completion", "bash"], True),
        (["help", "get"], True),
        (["get", "pods", "--help"], True),
        (["get", "pods", "-h"], True),
        (["config", "view"], True),
        (["plugin", "list"], True),
        (["kustomize", "."], True),
        (["-n", "config", "get", "pods"], False),
        (["--context", "help", "get", "pods"], False),
        (["--context=x", "config", "view"], True),
        (["get", "pods"], False),
        (["exec", "pod", "--", "sh", "-h"], False),
        (["--context", "x"], True),
        (["foo-plugin", "--help"], True),
    ],
    ids=lambda value: "_".join(value) if isinstance(value, list) else str(value),
)
def test_client_only(args: list[str], expected: bool) -> None:
    assert client_only(args) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(word, True) for word in ("1", "t", "T", "TRUE", "true", "True")],
        *[(word, False) for word in ("0", "f", "F", "FALSE", "false", "False")],
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("yes", None),
        ("tRUE", None),
        ("", None),
        (" true", None),
    ],
    ids=repr,
)
def test_go_parse_bool(value: object, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ConfigError, match=r"AllowDownload in /etc/k\.conf"):
            go_bool(value, "allowdownload", "/etc/k.conf")
    else:
        assert go_bool(value, "allowdownload", "/etc/k.conf") is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(5, 5), ("10", 10), ("+3", 3), ("10.0", 10), (7.0, 7), ("abc", None), ("", None)],
        *[(0, None), (-2, None), (2.5, None), (True, None), ("0x10", None), ("٣", None)],
    ],
    ids=repr,
)
def test_timeout_whole_seconds(value: object, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ConfigError, match=r"KUBERLR_TIMEOUT is .*whole number of seconds"):
            whole_seconds(value, "timeout", "KUBERLR_TIMEOUT")
    else:
        assert whole_seconds(value, "timeout", "KUBERLR_TIMEOUT") == expected


def test_bad_values_name_the_key_and_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "kuberlr.conf"
    conf.write_text('Timeout = "abc"\n')
    with pytest.raises(ConfigError) as caught:
        load_config({"HOME": str(tmp_path), "KUBERLR_CFG": str(conf)}, windows=False)
    assert f"Timeout in {conf}" in str(caught.value) and "'abc'" in str(caught.value)
    conf.write_text('AllowDownload = "yes"\nTimeout = "3"\n')
    with pytest.raises(ConfigError, match=r"AllowDownload in .*kuberlr\.conf is 'yes'"):
        load_config({"HOME": str(tmp_path), "KUBERLR_CFG": str(conf)}, windows=False)
    conf.write_text('AllowDownload = "F"\nTimeout = "3"\n')
    config = load_config({"HOME": str(tmp_path), "KUBERLR_CFG": str(conf)}, windows=False)
    assert (config.allow_download, config.timeout) == (False, 3.0)
    with pytest.raises(ConfigError, match="KUBERLR_TIMEOUT is 'abc'"):
        load_config({"HOME": str(tmp_path), "KUBERLR_TIMEOUT": "abc"}, windows=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[("1", True), ("TRUE", True), ("yes", True), ("On", True), ("0", False)],
        *[("off", False), ("", False), ("maybe", None), ("2", None)],
    ],
    ids=repr,
)
def test_kubeferry_switches(text: str, expected: bool | None) -> None:
    environ = {"KUBEFERRY_OFFLINE": text}
    if expected is None:
        with pytest.raises(ConfigError, match=f"KUBEFERRY_OFFLINE={text!r} is not a boolean"):
            env_flag(environ, "KUBEFERRY_OFFLINE")
    else:
        assert env_flag(environ, "KUBEFERRY_OFFLINE") is expected


def test_bad_ttl_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KUBEFERRY_VERSION_CACHE_TTL='soon'"):
        load_config({"HOME": str(tmp_path), "KUBEFERRY_VERSION_CACHE_TTL": "soon"}, windows=False)


def test_windows_forwarding_survives_ctrl_c(tmp_path: Path) -> None:
    """run_child (used on Windows) keeps waiting on Ctrl-C and returns the child's code."""
    started = tmp_path / "started"
    child = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(1.5)"
    program = (
        "import sys\n"
        "from kubeferry.shim.windows import run_child\n"
        f"sys.exit(run_child(sys.executable, ['-c', {child + '; raise SystemExit(7)'!r}]))\n"
    )
    wrapper = subprocess.Popen([sys.executable, "-c", program], stderr=subprocess.PIPE, text=True)
    for _ in range(400):
        if started.exists():
            break
        subprocess.run(["sleep", "0.05"], check=True)
    wrapper.send_signal(signal.SIGINT)
    _, stderr = wrapper.communicate(timeout=30)
    assert wrapper.returncode == 7
    assert "Traceback" not in stderr
