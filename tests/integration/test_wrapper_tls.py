"""Certificates checked as kubectl (Go) checks them, on every Python the package supports: a
k3s-like CA and a CA without keyUsage (which Python 3.13's strict mode alone rejects) both work;
a wrong CA or a wrong name fails with one line on stderr; the system store is used, or
SSL_CERT_FILE when set."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import yaml

from kubeferry.shim.kubeconfig import ClusterAccess
from kubeferry.shim.tls import client_context
from kubeferry.transport.http import tls_context
from tests.conftest import Cli
from tests.support.apiserver import Pki, make_pki, token_user
from tests.support.wrapper import OFFLINE_COMMAND, Wrapper, make_wrapper, write_config

pytestmark = pytest.mark.kubectl


@pytest.fixture
def wrapper(cli: Cli, tmp_path: Path, real_kubectls: dict[str, Path]) -> Wrapper:
    made = make_wrapper(cli, tmp_path)
    made.provide("1.29.4", "1.31.9", "1.33.9", store=real_kubectls)
    return made


@pytest.fixture(scope="module")
def plain_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki-no-key-usage"), ca_key_usage=False)


def _fallback_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kubeferry:")]


@pytest.mark.parametrize("variant", ["k3s-like-ca", "ca-without-key-usage"])
def test_cluster_cas_that_kubectl_accepts(
    wrapper: Wrapper, pki: Pki, plain_pki: Pki, cluster, variant: str
) -> None:
    used = pki if variant == "k3s-like-ca" else plain_pki
    api = cluster("v1.30.6+k3s1", used)
    write_config(wrapper, used, {"k": (api, token_user())}, "k")
    result = wrapper("version", "-o", "json")
    assert result.code == 0, result.stderr  # kubectl accepts this CA ...
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == "v1.31.9"  # ... and so do we
    assert _fallback_lines(result.stderr) == []


def test_wrong_ca_is_one_line_and_the_fallback(
    wrapper: Wrapper, pki: Pki, plain_pki: Pki, cluster
) -> None:
    api = cluster("v1.30.6+k3s1", plain_pki)
    write_config(wrapper, pki, {"k": (api, token_user())}, "k")  # the other CA
    result = wrapper(*OFFLINE_COMMAND)
    assert result.code == 0, result.stderr
    lines = _fallback_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "TLS certificate verification failed" in lines[0]
    assert "using the newest local kubectl 1.33.9" in lines[0]
    again = wrapper(*OFFLINE_COMMAND)  # the failure is remembered: no second line, no probe
    assert _fallback_lines(again.stderr) == []


def test_server_name_is_still_checked(wrapper: Wrapper, pki: Pki, cluster) -> None:
    api = cluster("v1.30.6+k3s1")
    config = write_config(wrapper, pki, {"k": (api, token_user())}, "k")
    config.write_text(
        config.read_text().replace("server:", "tls-server-name: wrong.example.test\n    server:")
    )
    lines = _fallback_lines(wrapper(*OFFLINE_COMMAND).stderr)
    assert len(lines) == 1 and "wrong.example.test" in lines[0], lines


def test_no_ca_in_kubeconfig_uses_the_system_store_or_ssl_cert_file(
    wrapper: Wrapper, pki: Pki, cluster
) -> None:
    api = cluster("v1.30.6+k3s1")
    config = write_config(wrapper, pki, {"k": (api, token_user())}, "k")
    document = yaml.safe_load(config.read_text())
    del document["clusters"][0]["cluster"]["certificate-authority-data"]
    config.write_text(yaml.safe_dump(document))
    assert pki.b64("ca.crt") not in config.read_text()
    ttl0 = {"KUBEFERRY_VERSION_CACHE_TTL": "0"}
    lines = _fallback_lines(wrapper(*OFFLINE_COMMAND, env=ttl0).stderr)
    assert len(lines) == 1 and "verification failed" in lines[0], lines  # the OS does not trust it
    trusted = {**ttl0, "SSL_CERT_FILE": str(pki.ca)}
    assert wrapper.client_version(env=trusted) == "v1.31.9"


def test_verification_flags_are_gos(pki: Pki) -> None:
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    with_ca = ClusterAccess(server="https://127.0.0.1:1", context="k", ca_file=str(pki.ca))
    system = ClusterAccess(server="https://127.0.0.1:1", context="k")
    contexts = [client_context(with_ca, None, {}), client_context(system, None, {})]
    contexts += [tls_context({}), tls_context({"SSL_CERT_FILE": str(pki.ca)})]
    for context in contexts:
        assert context.verify_flags & strict == 0
        assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_downloads_trust_the_system_store_unless_told(pki: Pki) -> None:
    system = tls_context({})
    assert type(system).__module__.startswith("truststore")
    chosen = tls_context({"SSL_CERT_FILE": str(pki.ca)})
    assert [c["subject"] for c in chosen.get_ca_certs()] == [
        ((("commonName", "kubeferry-test-ca"),),)
    ]
