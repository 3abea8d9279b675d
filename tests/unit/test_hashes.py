"""Sums files and digest files."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeferry.errors import SumsFileError
from kubeferry.files.hashing import hash_file
from kubeferry.verification.sums import parse_digest_file, parse_sums

A, B = "a" * 64, "B" * 64


def test_text_and_binary_mode_lines() -> None:
    text = f"{A}  k3s\n\n{B} *k3s-airgap-images-amd64.tar.zst\n"
    assert parse_sums(text, source="s") == {"k3s": A, "k3s-airgap-images-amd64.tar.zst": B.lower()}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "lists no files"),
        ("\n \n", "lists no files"),
        (f"{A[:60]}  k3s\n", "line 1"),
        (f"{A}  ../../etc/passwd\n", "not a plain file name"),
        ("<html>oops</html>", "line 1"),
    ],
    ids=["empty", "blank-lines", "short-digest", "path-in-name", "html"],
)
def test_bad_sums_files(text: str, words: str) -> None:
    with pytest.raises(SumsFileError, match=words) as info:
        parse_sums(text, source="sha256sum-amd64.txt")
    assert "sha256sum-amd64.txt" in str(info.value)


@pytest.mark.parametrize(
    ("text", "algorithm", "digest"),
    [(A + "\n", "sha256", A), (f"{A}  kubectl\n", "sha256", A), ("c" * 128, "sha512", "c" * 128)],
    ids=["hex-only", "with-name", "sha512"],
)
def test_digest_files(text: str, algorithm: str, digest: str) -> None:
    assert parse_digest_file(text, algorithm=algorithm, source="x") == digest


def test_digest_file_of_the_wrong_length() -> None:
    with pytest.raises(SumsFileError, match="sha512 digest"):
        parse_digest_file(A, algorithm="sha512", source="https://m/kubectl.sha512")


def test_hash_file_several_algorithms_in_one_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    digests = hash_file(path, ("sha256", "sha512"))
    assert digests["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert digests["sha512"].startswith("ddaf35a193617aba")
