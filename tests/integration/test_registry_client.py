"""The OCI client itself against a real Distribution registry: uploads, fetches, tokens."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeferry.errors import RegistryError
from kubeferry.oci.auth import Credentials
from kubeferry.oci.client import BlobSource, RegistryClient
from tests.support import registry as registry_support
from tests.support.registry import Registry, start_registry, token_auth
from tests.support.token_server import TokenServer, TokenState, make_token_key

pytestmark = pytest.mark.skipif(
    registry_support.available() is not None, reason=str(registry_support.available())
)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "registry")
    yield running
    running.stop()


def _blob(size: int) -> tuple[bytes, str]:
    data = os.urandom(size)
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def test_chunked_upload_from_an_iterator_and_a_file_slice(
    registry: Registry, tmp_path: Path
) -> None:
    data, digest = _blob(2_500_000)
    reported: list[tuple[int, int | None]] = []
    with RegistryClient(registry.host, plain_http=True) as client:
        pieces = (data[i : i + 300_000] for i in range(0, len(data), 300_000))
        client.upload_blob(
            "a/chunked",
            BlobSource(digest, len(data), chunks=pieces),
            chunk_size=1_000_000,
            progress=lambda done, total: reported.append((done, total)),
        )
        assert client.blob_exists("a/chunked", digest)
        patches = [r for r in registry.requests() if r[0] == "PATCH"]
        assert len(patches) == 3 and all(status == 202 for *_, status in patches)
        assert reported[-1] == (len(data), len(data))
        container = tmp_path / "container.bin"
        container.write_bytes(b"x" * 1000 + data + b"y" * 1000)
        other, other_digest = data[:700_000], "sha256:" + hashlib.sha256(data[:700_000]).hexdigest()
        client.upload_blob(
            "a/slice", BlobSource(other_digest, len(other), path=container, offset=1000)
        )
        fetched = client.fetch_blob("a/slice", other_digest, tmp_path / "out.bin")
        assert (tmp_path / "out.bin").read_bytes() == other and fetched.sha256 == other_digest[7:]


def test_fetch_resumes_a_part_file_with_range(registry: Registry, tmp_path: Path) -> None:
    data, digest = _blob(3_000_000)
    with RegistryClient(registry.host, plain_http=True) as client:
        client.upload_blob("a/resume", BlobSource(digest, len(data), chunks=[data]))
        destination = tmp_path / "blob.bin"
        (tmp_path / ".blob.bin.part").write_bytes(data[:1_234_567])
        result = client.fetch_blob("a/resume", digest, destination)
    assert destination.read_bytes() == data and result.resumed_from == 1_234_567
    assert result.fetched == len(data) - 1_234_567
    assert not (tmp_path / ".blob.bin.part").exists()


def test_wrong_digest_upload_and_missing_manifest_are_registry_errors(registry: Registry) -> None:
    data, _ = _blob(1000)
    wrong = "sha256:" + "0" * 64
    with RegistryClient(registry.host, plain_http=True) as client:
        with pytest.raises(RegistryError) as caught:
            client.upload_blob("a/bad", BlobSource(wrong, len(data), chunks=[data]))
        assert "400" in str(caught.value) and registry.url in str(caught.value)
        with pytest.raises(RegistryError, match="does not exist"):
            client.get_manifest("a/none", "1")


def test_bearer_tokens_are_cached_per_scope(tmp_path: Path) -> None:
    key = make_token_key(tmp_path)
    with TokenServer(TokenState(key, users={"u": "p"})) as tokens:
        running = start_registry(tmp_path / "reg", token_auth(tokens.realm, key))
        try:
            data, digest = _blob(10_000)
            with RegistryClient(
                running.host, plain_http=True, credentials=Credentials("u", "p")
            ) as client:
                client.upload_blob("team/x", BlobSource(digest, len(data), chunks=[data]))
                for _ in range(5):
                    assert client.blob_exists("team/x", digest)
                assert client.mount_blob("team/y", digest, "team/x")
            scopes = [tuple(r["scope"]) for r in tokens.state.requests]
            assert scopes.count(("repository:team/x:pull",)) == 1
            assert scopes.count(("repository:team/x:pull,push",)) == 1
            assert ("repository:team/y:pull,push", "repository:team/x:pull") in scopes
        finally:
            running.stop()
