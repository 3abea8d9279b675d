"""The registry client against a hostile registry (issue 22): clear-text realms, trickles, deep
JSON, huge manifests and token replies, redirected blobs that fail. A fake registry over real
sockets (tests/support/fake_registry.py); the real client code, a real TLS handshake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeferry.catalog.upstream import Upstream
from kubeferry.core.endpoints import Endpoints
from kubeferry.errors import RegistryAuthError, RegistryError, UpstreamError
from kubeferry.oci.auth import Credentials
from kubeferry.oci.client import MANIFEST_LIMIT, RegistryClient
from kubeferry.transport import http
from kubeferry.transport.policy import RetryNotice, RetryPolicy, TransferPolicy
from tests.support.apiserver import make_pki
from tests.support.fake_registry import FakeRegistry, Reply, deep_json, token_reply

FAST = RetryPolicy(attempts=2, initial_delay=0.1, max_delay=0.1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki")).folder


@pytest.fixture
def trusted(pki: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test CA trusted by every client opened from now on (SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.crt"))
    return pki


def _policy(notices: list[RetryNotice], speed_time: float = 1.0) -> TransferPolicy:
    return TransferPolicy(
        speed_limit=100, speed_time=speed_time, retry=FAST, on_retry=notices.append
    )


@pytest.fixture
def plain() -> Iterator[FakeRegistry]:
    with FakeRegistry() as registry:
        yield registry


# -- 6: credentials never go to a weaker scheme ----------------------------------------------


def test_https_registry_with_an_http_realm_gets_nothing_sent_there(
    trusted: Path, plain: FakeRegistry
) -> None:
    plain.routes["/token"] = token_reply()
    with FakeRegistry(tls=(trusted / "server.crt", trusted / "server.key")) as registry:
        registry.challenge = f"{plain.url}/token"
        client = RegistryClient(registry.host, credentials=Credentials("user", "secret"))
        with client, pytest.raises(RegistryAuthError) as caught:
            client.get_manifest("a/b", "1")
    message = caught.value.message
    assert registry.url in message and f"{plain.url}/token" in message and "clear" in message
    assert plain.requests == []  # not one byte of the credentials (nor anything) went there


def test_https_realm_redirecting_to_http_is_not_followed(
    trusted: Path, plain: FakeRegistry
) -> None:
    plain.routes["/token"] = token_reply()
    tls = (trusted / "server.crt", trusted / "server.key")
    with FakeRegistry(tls=tls) as realm, FakeRegistry(tls=tls) as registry:
        realm.routes["/token"] = Reply(307, headers={"Location": f"{plain.url}/token"})
        registry.challenge = f"{realm.url}/token"
        client = RegistryClient(registry.host, credentials=Credentials("user", "secret"))
        with client, pytest.raises(UpstreamError) as caught:
            client.get_manifest("a/b", "1")
    assert f"{plain.url}/token" in caught.value.message and "plain http" in caught.value.message
    assert len(realm.requests) == 1 and plain.requests == []


def test_http_registry_may_use_an_http_realm(plain: FakeRegistry) -> None:
    """--plain-http was the user's choice: the token flow works as before."""
    with FakeRegistry() as realm:
        realm.routes["/token"] = token_reply()
        plain.challenge = f"{realm.url}/token"
        plain.manifest("a/b", "1", b'{"schemaVersion":2}')
        with RegistryClient(plain.host, plain_http=True) as client:
            assert client.get_manifest("a/b", "1")[1] == b'{"schemaVersion":2}'
        assert plain.requests[-1][2]["authorization"] == "Bearer t0k3n"


# -- 7: stalls in manifests and token replies are named, retries announced -------------------


@pytest.mark.parametrize("where", ["body", "headers"])
def test_trickled_manifest_is_a_stall_within_the_stall_time(
    plain: FakeRegistry, where: str
) -> None:
    how = {"trickle_body": 0.5} if where == "body" else {"trickle_headers": 0.5}
    plain.manifest("a/b", "1", b'{"schemaVersion":2,"layers":[]}' * 4, **how)
    notices: list[RetryNotice] = []
    started = time.monotonic()
    client = RegistryClient(plain.host, plain_http=True, policy=_policy(notices))
    with client, pytest.raises(RegistryError) as caught:
        client.get_manifest("a/b", "1")
    took = time.monotonic() - started
    assert "stalled" in caught.value.message and "2 tries" in caught.value.message
    assert len(notices) == 1 and "stalled" in notices[0].message
    assert "next try" in notices[0].message and "/v2/a/b/manifests/1" in notices[0].url
    assert took < 6, took  # 2 attempts of about 1 s each, not 5 s per byte


def test_trickled_token_reply_is_a_stall(plain: FakeRegistry) -> None:
    with FakeRegistry() as realm:
        realm.routes["/token"] = Reply(200, b'{"token":"abc","expires_in":300}', trickle_body=0.5)
        plain.challenge = f"{realm.url}/token"
        notices: list[RetryNotice] = []
        client = RegistryClient(plain.host, plain_http=True, policy=_policy(notices))
        started = time.monotonic()
        with client, pytest.raises(RegistryError) as caught:
            client.get_manifest("a/b", "1")
        assert time.monotonic() - started < 8
    assert "token service" in caught.value.message and "stalled" in caught.value.message
    assert any("/token" in notice.url and "stalled" in notice.message for notice in notices)


def test_a_5xx_manifest_answer_is_retried_and_announced(plain: FakeRegistry) -> None:
    plain.routes["/v2/a/b/manifests/1"] = Reply(503, b"busy")
    notices: list[RetryNotice] = []
    client = RegistryClient(plain.host, plain_http=True, policy=_policy(notices))
    with client, pytest.raises(RegistryError) as caught:
        client.get_manifest("a/b", "1")
    assert "HTTP 503" in notices[0].message and "HTTP 503" in caught.value.message
    assert len(plain.paths("/v2/a/b/manifests/1")) == 2


# -- 9: deep JSON from the network is an error, not a RecursionError -------------------------


def test_deep_manifest_without_content_type_is_a_clear_error(plain: FakeRegistry) -> None:
    plain.routes["/v2/a/b/manifests/1"] = Reply(200, deep_json(100_000))
    with RegistryClient(plain.host, plain_http=True) as client, pytest.raises(RegistryError) as e:
        client.get_manifest("a/b", "1")
    assert "nested more than 64 deep" in e.value.message


def test_deep_token_reply_is_a_clear_error(plain: FakeRegistry) -> None:
    with FakeRegistry() as realm:
        realm.routes["/token"] = Reply(200, b'{"token":' + deep_json(100_000) + b"}")
        plain.challenge = f"{realm.url}/token"
        client = RegistryClient(plain.host, plain_http=True)
        with client, pytest.raises(RegistryError) as caught:
            client.get_manifest("a/b", "1")
    assert "token reply" in caught.value.message and "nested more than" in caught.value.message


@pytest.mark.parametrize("what", ["channels", "releases"])
def test_deep_catalog_json_is_a_clear_error(plain: FakeRegistry, what: str) -> None:
    plain.routes["/channels"] = Reply(200, b'{"data":' + deep_json(100_000) + b"}")
    plain.routes["/releases"] = Reply(200, deep_json(100_000))
    endpoints = Endpoints(
        channels_url=f"{plain.url}/channels", releases_url=f"{plain.url}/releases"
    )
    with http.open_client() as client, pytest.raises(UpstreamError) as caught:
        upstream = Upstream(client, endpoints)
        upstream.fetch_channels() if what == "channels" else upstream.fetch_releases()
    assert "nested more than 64 deep" in caught.value.message and plain.url in caught.value.message


# -- 10: size limits, read no further than the limit -----------------------------------------


@pytest.mark.parametrize("length", [True, False])
def test_manifest_over_4_mib_is_refused(plain: FakeRegistry, length: bool) -> None:
    body = b'{"pad":"' + b"x" * MANIFEST_LIMIT + b'"}'
    plain.routes["/v2/a/b/manifests/1"] = Reply(200, body, length=length)
    with RegistryClient(plain.host, plain_http=True) as client, pytest.raises(RegistryError) as e:
        client.get_manifest("a/b", "1")
    assert f"at most {MANIFEST_LIMIT} bytes" in e.value.message
    assert ("more than" in e.value.message) != length  # a declared length is refused unread


def test_token_reply_over_1_mib_is_refused(plain: FakeRegistry) -> None:
    with FakeRegistry() as realm:
        realm.routes["/token"] = Reply(200, b'{"token":"' + b"a" * 2**21 + b'"}', length=False)
        plain.challenge = f"{realm.url}/token"
        client = RegistryClient(plain.host, plain_http=True)
        with client, pytest.raises(RegistryError) as caught:
            client.get_manifest("a/b", "1")
    assert "1048576 bytes" in caught.value.message and "token reply" in caught.value.message


# -- 12: a failed redirected blob is named by the storage URL that answered -----------------


def test_failed_redirected_blob_names_the_storage_url(plain: FakeRegistry, tmp_path: Path) -> None:
    data = b"layer bytes " * 100
    with FakeRegistry() as storage:
        storage.routes["/bucket/blob"] = Reply(200, data, trickle_body=0.5)
        found = plain.blob("a/b", data)
        plain.routes[f"/v2/a/b/blobs/{found}"] = Reply(
            307, headers={"Location": f"{storage.url}/bucket/blob"}
        )
        notices: list[RetryNotice] = []
        client = RegistryClient(plain.host, plain_http=True, policy=_policy(notices))
        with client, pytest.raises(UpstreamError) as caught:
            client.fetch_blob("a/b", found, tmp_path / "blob", size=len(data))
    message = caught.value.message
    assert message.startswith(f"{storage.url}/bucket/blob (redirected from {plain.url}/v2/a/b")
    assert caught.value.url == f"{storage.url}/bucket/blob"
    assert notices and notices[0].url.startswith(f"{storage.url}/bucket/blob")


def test_a_healthy_registry_is_asked_once_per_document(plain: FakeRegistry) -> None:
    """The guards cost nothing visible: a plain manifest and ping still work, once each."""
    plain.manifest("a/b", "1", b'{"schemaVersion":2}')
    with RegistryClient(plain.host, plain_http=True) as client:
        client.ping()
        assert client.get_manifest("a/b", "1") == (
            "application/vnd.oci.image.manifest.v1+json",
            b'{"schemaVersion":2}',
        )
    assert plain.paths() == ["/v2/", "/v2/a/b/manifests/1"]


def test_redirect_and_error_bodies_are_read_no_further_than_64_kib(plain: FakeRegistry) -> None:
    """httpx reads a followed redirect's body whole; the document clients stop at 64 KiB."""
    huge = b"x" * (10 * 1024 * 1024)
    plain.routes["/moved"] = Reply(307, huge, {"Location": "/v2/"}, length=False)
    plain.routes["/gone"] = Reply(404, huge)
    with http.open_client(fresh=True) as client:
        followed = client.get(f"{plain.url}/moved")
        missing = client.get(f"{plain.url}/gone")
    assert followed.status_code == 200 and followed.content == b"{}"
    assert len(followed.history[0].content) == http.ERROR_BODY_LIMIT
    assert missing.status_code == 404 and len(missing.content) == http.ERROR_BODY_LIMIT


def test_a_huge_401_body_is_not_read_whole(plain: FakeRegistry) -> None:
    with FakeRegistry() as realm:
        realm.routes["/token"] = token_reply()
        plain.challenge = f"{realm.url}/token"
        plain.challenge_body = b"u" * (10 * 1024 * 1024)
        plain.manifest("a/b", "1", b'{"schemaVersion":2}')
        with RegistryClient(plain.host, plain_http=True) as client:
            assert client.get_manifest("a/b", "1")[1] == b'{"schemaVersion":2}'
