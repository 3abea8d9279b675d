"""Sums files (`sha256sum` output) and single-digest files (`kubectl.sha256`): parsed, pure."""

from __future__ import annotations

import re
from typing import Final

from kubeferry.errors import SumsFileError

_SUMS_LINE: Final = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) (?: |\*)(?P<name>\S.*)$")


_HEX_DIGEST: Final = re.compile(r"^[0-9a-fA-F]+$")


DIGEST_LENGTHS: Final = {"sha256": 64, "sha512": 128}


def parse_sums(text: str, *, source: str) -> dict[str, str]:
    """File name -> lowercase sha256 from `sha256sum` output (text or `*` binary mode)."""
    digests: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _SUMS_LINE.match(line)
        if match is None:
            raise SumsFileError(
                f"{source} line {number} is not '<64 hex digits>  <file name>': {line[:80]!r}. "
                "Download the sums file again.",
                path=source,
            )
        name = match["name"].strip()
        if "/" in name or "\\" in name or name in (".", ".."):
            raise SumsFileError(
                f"{source} line {number} names {name!r}, which is not a plain file name.",
                path=source,
            )
        digests[name] = match["digest"].lower()
    if not digests:
        raise SumsFileError(
            f"{source} lists no files. Download the sums file again from the release.",
            path=source,
        )
    return digests


def parse_digest_file(text: str, *, algorithm: str, source: str) -> str:
    """The digest from a dl.k8s.io `.sha256`/`.sha512` file (hex only, or `hex  name`)."""
    words = text.split()
    expected_length = DIGEST_LENGTHS[algorithm]
    if not words or len(words[0]) != expected_length or not _HEX_DIGEST.match(words[0]):
        raise SumsFileError(
            f"{source} does not hold a {algorithm} digest ({expected_length} hex digits); "
            f"found {text[:80]!r}. Check the mirror.",
            path=None if source.startswith("http") else source,
        )
    return words[0].lower()
