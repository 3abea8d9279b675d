"""Issue 18's pure rules: connection flags from argv, client-go's merging and fallbacks,
durations, Go's PEM leniency, the oidc id-token, NO_PROXY against IP literals, the cache key."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from kubeferry.shim.argv import connection_flags
from kubeferry.shim.authprovider import provider_token
from kubeferry.shim.clientconfig import load_access, request_timeout
from kubeferry.shim.connect import use_proxy
from kubeferry.shim.credentials import CredentialError
from kubeferry.shim.kubeconfig import KubeconfigError
from kubeferry.shim.probe import go_duration
from kubeferry.shim.tls import certificate_blocks
from kubeferry.shim.versioncache import fingerprint
from tests.support.apiserver import Pki


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--server=https://b", "get"], {"server": "https://b"}),
        (["get", "pods", "--server", "https://b"], {"server": "https://b"}),
        (["-s", "https://b", "get"], {"server": "https://b"}),
        (["-shttps://b", "get"], {"server": "https://b"}),
        (["-s=https://b", "get"], {"server": "https://b"}),
        (["--insecure-skip-tls-verify", "get"], {"insecure-skip-tls-verify": "true"}),
        (["--insecure-skip-tls-verify=false"], {"insecure-skip-tls-verify": "false"}),
        (["--as-group", "a", "--as-group=b"], {"as-group": "a\nb"}),
        (["--token", "t", "--token=u"], {"token": "u"}),
        (["exec", "p", "--", "kubectl", "--server=x"], {}),
        (["--server"], {}),
    ],
    ids=[
        "equals",
        "after-command",
        "short",
        "short-joined",
        "short-equals",
        "bool",
        "bool-false",
        "repeated",
        "last-wins",
        "stops-at-dashdash",
        "dangling",
    ],
)
def test_connection_flags(args: list[str], expected: dict[str, str]) -> None:
    assert connection_flags(args) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7s", 7.0), ("90", 90.0), ("1m30s", 90.0), ("500ms", 0.5), ("0", 0.0), (None, None)],
)
def test_request_timeout(text: str | None, seconds: float | None) -> None:
    assert request_timeout(text) == seconds


def test_request_timeout_refuses_what_kubectl_refuses() -> None:
    with pytest.raises(KubeconfigError, match="not a duration"):
        request_timeout("soon")


@pytest.mark.parametrize(
    ("seconds", "text"), [(32, "32s"), (7, "7s"), (90, "1m30s"), (0.5, "500ms"), (3700, "1h1m40s")]
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_malformed_pem_blocks_are_skipped(pki: Pki) -> None:
    good = pki.pem("ca.crt").decode()
    broken = "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n"
    headers = "-----BEGIN CERTIFICATE-----\nProc-Type: 4\n\nAAAA\n-----END CERTIFICATE-----\n"
    assert len(certificate_blocks(broken + good + headers)) == 1


def _jwt(expiry: float) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"exp": expiry}).encode()).decode().rstrip("=")
    return f"e30.{payload}.c2ln"


def test_oidc_id_token() -> None:
    config = {"idp-issuer-url": "https://idp", "client-id": "k", "id-token": _jwt(2000)}
    assert provider_token({"name": "oidc", "config": config}, now=1000) == config["id-token"]
    with pytest.raises(CredentialError, match="refreshes it at the identity provider"):
        provider_token({"name": "oidc", "config": {**config, "refresh-token": "r"}}, now=1995)
    with pytest.raises(CredentialError, match="no valid oidc id-token"):
        provider_token({"name": "oidc", "config": config}, now=3000)
    with pytest.raises(CredentialError, match="not built into kubectl"):
        provider_token({"name": "gcp", "config": {}})


@pytest.mark.parametrize(
    ("host", "no_proxy", "proxied"),
    [
        ("10.250.0.1", "250.0.1", True),
        ("10.250.0.1", ".0.1", True),
        ("10.250.0.1", "10.250.0.1", False),
        ("10.250.0.1", "10.0.0.0/8", False),
        ("a.250.0.1", "250.0.1", False),
    ],
)
def test_no_proxy_domains_never_match_ip_literals(host: str, no_proxy: str, proxied: bool) -> None:
    assert use_proxy(host, "443", no_proxy) is proxied


def test_fingerprint_holds_each_flag_but_no_secret() -> None:
    base = fingerprint(["/k"], None, {}, {})
    seen = {base}
    for flags in (
        {"server": "https://b"},
        {"cluster": "b"},
        {"user": "b"},
        {"token": "t1"},
        {"token": "t2"},
        {"password": "p"},
        {"as": "bob"},
        {"request-timeout": "7s"},
        {"insecure-skip-tls-verify": "true"},
    ):
        printed = fingerprint(["/k"], None, {}, flags)
        assert printed not in seen, flags
        seen.add(printed)
        assert "t1" not in printed and "=p|" not in printed + "|"
    assert fingerprint(["/k"], None, {"KUBERNETES_MASTER": "http://m"}, {}) != base


def _write(path: Path, document: dict[str, object]) -> list[str]:
    path.write_text(yaml.safe_dump(document))
    return [str(path)]


def test_flags_override_the_kubeconfig_as_clientcmd_does(tmp_path: Path) -> None:
    paths = _write(
        tmp_path / "kc",
        {
            "current-context": "a",
            "clusters": [
                {
                    "name": "a",
                    "cluster": {
                        "server": "https://a",
                        "tls-server-name": "n",
                        "certificate-authority": "ca.crt",
                    },
                },
                {"name": "b", "cluster": {"server": "b:6443"}},
            ],
            "users": [{"name": "a", "user": {"tokenFile": "tok", "as": "bob"}}],
            "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}],
        },
    )
    access = load_access(paths, {"server": "https://other", "as-group": "g1\ng2"}, {})
    assert access.server == "https://other" and access.tls_server_name is None
    assert access.as_groups == ["g1", "g2"] and access.as_user == "bob"
    assert access.token_file == str(tmp_path / "tok")
    access = load_access(paths, {"insecure-skip-tls-verify": "true"}, {})
    assert access.insecure and access.ca_file is None
    access = load_access(paths, {"cluster": "b"}, {})
    assert access.server == "http://b:6443" and not access.tls  # no scheme: http
    with pytest.raises(KubeconfigError, match="more than one way to log in"):
        load_access(paths, {"username": "u"}, {})
    with pytest.raises(KubeconfigError, match="not in the kubeconfig"):
        load_access(paths, {"cluster": "nope"}, {})


def test_client_go_fallbacks(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty", {})
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("t")
    pod = {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBEFERRY_SERVICEACCOUNT_DIR": str(account),
    }
    assert load_access(empty, {}, pod).server == "https://10.0.0.1:443"
    assert load_access(empty, {"kubeconfig": empty[0]}, pod).server == "https://10.0.0.1:443"
    master = {"KUBERNETES_MASTER": "https://m:6443"}
    assert load_access(empty, {}, master).server == "https://m:6443"
    assert load_access(empty, {"token": "x"}, master).token == "x"
    assert load_access(empty, {}, {}).server == "http://localhost:8080"
    with pytest.raises(KubeconfigError, match="does not exist"):
        load_access([str(tmp_path / "missing")], {"kubeconfig": "x"}, {})
