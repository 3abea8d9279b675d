"""The clients' certificates load on the first https connection, and https still verifies.

Real TLS servers (tests/support/upstream.py with the test CA from tests/support/apiserver.py).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kubeferry.download.engine import DownloadJob, download
from kubeferry.transport import http
from tests.support.apiserver import Pki, make_pki
from tests.support.upstream import LocalUpstream

BODY = b"kubeferry" * 1000


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    built: list[int] = []
    real = http.tls_context

    def counting(environ=None):  # type: ignore[no-untyped-def]
        built.append(1)
        return real(environ)

    monkeypatch.setattr(http, "tls_context", counting)
    return built


def test_an_http_download_never_loads_certificates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    built = _count_builds(monkeypatch)
    with LocalUpstream() as server:
        server.state.files["/file.bin"] = BODY
        with http.open_client() as client:
            job = DownloadJob(f"{server.url}/file.bin", tmp_path / "file.bin")
            result = download(client, job)
    assert result.size == len(BODY) and (tmp_path / "file.bin").read_bytes() == BODY
    assert built == []


def test_https_loads_them_once_and_verifies(
    monkeypatch: pytest.MonkeyPatch, pki: Pki, tmp_path: Path
) -> None:
    built = _count_builds(monkeypatch)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    with LocalUpstream(tls=pki) as server:
        server.state.files["/file.bin"] = BODY
        close = {"Connection": "close"}  # each request on a connection (and handshake) of its own
        with http.open_client() as client:
            answers = [client.get(f"{server.url}/file.bin", headers=close) for _ in range(3)]
            assert built == [1]  # once per client, not per connection
        with http.open_client() as other:
            answers.append(other.get(f"{server.url}/file.bin"))
    assert [answer.content for answer in answers] == [BODY] * 4
    assert built == [1, 1]
    assert len(server.state.requests) == 4


def test_https_from_an_unknown_authority_is_refused(
    monkeypatch: pytest.MonkeyPatch, pki: Pki, tmp_path: Path
) -> None:
    stranger = make_pki(tmp_path / "other-ca")  # trusted instead of the server's CA
    monkeypatch.setenv("SSL_CERT_FILE", str(stranger.ca))
    with LocalUpstream(tls=pki) as server:
        server.state.files["/file.bin"] = BODY
        with http.open_client() as client, pytest.raises(httpx.ConnectError) as caught:
            client.get(f"{server.url}/file.bin")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_the_environment_is_read_when_the_client_opens(
    monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    """SSL_CERT_FILE as it was at open_client, even if it changes before the first request."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    with LocalUpstream(tls=pki) as server:
        server.state.files["/file.bin"] = BODY
        with http.open_client() as client:
            monkeypatch.delenv("SSL_CERT_FILE")
            assert client.get(f"{server.url}/file.bin").content == BODY
