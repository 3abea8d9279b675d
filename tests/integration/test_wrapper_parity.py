"""Issue 18, cases 3-10: credentials, plugins, proxies, TLS and schemes, side by side with real
kubectl against logging `/version` servers (see test_wrapper_flags.py for cases 1-2)."""

from __future__ import annotations

import base64
import json
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_wrapper_flags import write_kubeconfig
from tests.support.apiserver import SERVER_NAME, ApiServer, Pki
from tests.support.connect_proxy import ConnectProxy
from tests.support.side_by_side import assert_same_request, compare
from tests.support.socks_proxy import SocksProxy
from tests.support.wrapper import Wrapper

pytestmark = pytest.mark.kubectl


@pytest.fixture
def servers(pki: Pki) -> Iterator[dict[str, ApiServer]]:
    running = {
        "a": ApiServer(pki, "v1.33.2"),
        "b": ApiServer(pki, "v1.29.0"),
        "weak": ApiServer(pki, "v1.31.4", certificate="weak-server"),
        "http": ApiServer(pki, "v1.29.3", tls=False),
    }
    for server in running.values():
        server.__enter__()
        server.state.anonymous = True
    yield running
    for server in running.values():
        server.stop()


def _config(wrapper: Wrapper, pki: Pki, server: str, user: dict[str, Any], **cluster: Any) -> Path:
    path = wrapper.cli.home / ".kube" / "config"
    return write_kubeconfig(
        path, pki, {"k": {"server": server, **cluster}}, {"k": user}, {"k": ("k", "k")}, "k"
    )


def _plugin(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """An exec plugin that logs each run and gives a token nobody expects."""
    log = tmp_path / "plugin.log"
    script = tmp_path / "plugin"
    script.write_text(
        f"#!{sys.executable}\nimport json, os\n"
        f"open({str(log)!r}, 'a').write('ran\\n')\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "    'status': {'token': 'from-plugin'}}))\n"
    )
    script.chmod(0o755)
    config = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": str(script),
        "interactiveMode": "Never",
    }
    return config, log


def _jwt(expiry: float) -> str:
    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': expiry, 'sub': 'me'})}.c2ln"


def _notices(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kubeferry:")]


def test_oidc_id_token_is_sent(
    wrapper: Wrapper, servers: dict[str, ApiServer], pki: Pki, real_kubectls: dict[str, Path]
) -> None:
    """Case 3: the auth-provider's id-token, as kubectl's oidc provider sends it."""
    token = _jwt(4102444800)  # 2100
    provider = {
        "name": "oidc",
        "config": {
            "id-token": token,
            "client-id": "kubernetes",
            "idp-issuer-url": "https://idp.example.test",
        },
    }
    _config(wrapper, pki, servers["b"].url, {"auth-provider": provider})
    compared = compare(wrapper, servers, real_kubectls)
    assert assert_same_request(compared, servers) == "b"
    assert compared.probe[0][1].authorization == f"Bearer {token}"


@pytest.mark.parametrize("split", ["cert-file-key-data", "cert-data-key-file"])
def test_client_certificate_split_between_file_and_data(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
    split: str,
) -> None:
    """Case 3: a client certificate and its key, one as a file and one as -data."""
    if split == "cert-file-key-data":
        user = {
            "client-certificate": str(pki.folder / "client.crt"),
            "client-key-data": pki.b64("client.key"),
        }
    else:
        user = {
            "client-certificate-data": pki.b64("client.crt"),
            "client-key": str(pki.folder / "client.key"),
        }
    _config(wrapper, pki, servers["a"].url, user)
    compared = compare(wrapper, servers, real_kubectls)
    assert assert_same_request(compared, servers) == "a"
    assert compared.probe[0][1].client_cn == "client"


@pytest.mark.parametrize("credential", ["client-cert", "basic-auth"])
def test_exec_plugin_skipped_when_cert_or_basic_auth_is_set(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
    tmp_path: Path,
    credential: str,
) -> None:
    """Case 4: client-go runs no exec plugin when a client cert or basic auth is set."""
    plugin, log = _plugin(tmp_path)
    user: dict[str, Any] = {"exec": plugin}
    if credential == "client-cert":
        user["client-certificate-data"] = pki.b64("client.crt")
        user["client-key-data"] = pki.b64("client.key")
    else:
        user.update(username="alice", password="wonderland")
    _config(wrapper, pki, servers["b"].url, user)
    compared = compare(wrapper, servers, real_kubectls)
    assert assert_same_request(compared, servers) == "b"
    assert not log.exists()  # neither kubectl nor the probe ran it
    assert compared.probe[0][1].authorization != "Bearer from-plugin"


@pytest.fixture
def https_proxy(pki: Pki) -> Iterator[ConnectProxy]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.folder / "server.crt", pki.folder / "server.key")
    with ConnectProxy(tls=context) as running:
        yield running


@pytest.fixture
def socks() -> Iterator[SocksProxy]:
    with SocksProxy() as running:
        yield running


@pytest.mark.parametrize(
    "where", ["proxy-url-socks5", "HTTPS_PROXY-socks5", "proxy-url-socks5-login", "proxy-url-https"]
)
def test_socks5_and_https_proxies(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
    socks: SocksProxy,
    https_proxy: ConnectProxy,
    where: str,
) -> None:
    """Case 5: the server's name resolves only at the proxy: only a proxied probe reaches it."""
    named = servers["b"].url.replace("127.0.0.1", SERVER_NAME)
    env: dict[str, str] = {}
    if where == "proxy-url-socks5":
        _config(wrapper, pki, named, {"token": "s3cret"}, **{"proxy-url": socks.url})
    elif where == "proxy-url-socks5-login":
        socks.credentials(("ann", "p@ss"))
        login = socks.url.replace("socks5://", "socks5://ann:p%40ss@")
        _config(wrapper, pki, named, {"token": "s3cret"}, **{"proxy-url": login})
    elif where == "HTTPS_PROXY-socks5":
        _config(wrapper, pki, named, {"token": "s3cret"})
        env["HTTPS_PROXY"] = socks.url
    else:
        _config(wrapper, pki, named, {"token": "s3cret"}, **{"proxy-url": https_proxy.url})
    compared = compare(wrapper, servers, real_kubectls, env=env)
    assert assert_same_request(compared, servers) == "b"
    targets = https_proxy.state.targets if where.endswith("https") else socks.state.targets
    port = servers["b"].url.rsplit(":", 1)[1]
    assert targets == [f"{SERVER_NAME}:{port}"] * 3  # kubectl, the probe, the kubectl it ran
    if where.endswith("login"):
        assert socks.state.users == ["ann"] * 3


def test_tls_as_lenient_as_go(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
    tmp_path: Path,
) -> None:
    """Case 6: a 1024-bit server key, and a CA bundle with one malformed PEM block."""
    _config(wrapper, pki, servers["weak"].url, {"token": "s3cret"})
    compared = compare(wrapper, servers, real_kubectls)
    assert assert_same_request(compared, servers) == "weak"
    assert "kubeferry:" not in compared.wrapped.stderr
    bundle = tmp_path / "bundle.crt"
    broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    bundle.write_text(broken + pki.pem("ca.crt").decode())
    _config(
        wrapper,
        pki,
        servers["b"].url,
        {"token": "s3cret"},
        **{"certificate-authority": str(bundle), "certificate-authority-data": None},
    )
    compared = compare(wrapper, servers, real_kubectls)
    assert assert_same_request(compared, servers) == "b"
    assert "kubeferry:" not in compared.wrapped.stderr


@pytest.mark.parametrize("form", ["no-scheme", "http-scheme"])
def test_plain_http_sends_no_credentials(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
    tmp_path: Path,
    form: str,
) -> None:
    """Cases 7 and 10: `server: host:port` is http://; over http no token, no plugin."""
    plugin, log = _plugin(tmp_path)
    url = servers["http"].url
    server = url.removeprefix("http://") if form == "no-scheme" else url
    user = {"token": "s3cret"} if form == "no-scheme" else {"exec": plugin}
    _config(wrapper, pki, server, user)
    compared = compare(wrapper, servers, real_kubectls)
    assert assert_same_request(compared, servers) == "http"
    assert compared.probe[0][1].authorization is None
    assert not log.exists()
