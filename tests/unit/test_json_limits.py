"""files/textfiles.parse_json: the depth limit is checked before the parser recurses, strings
do not count, and the size limit holds (issue 22, items 9 and 10)."""

from __future__ import annotations

import json
import time

import pytest

from kubeferry.bundle.manifest import MAX_FILES, parse_manifest
from kubeferry.errors import ManifestError, TextFileError, UpstreamError
from kubeferry.files.textfiles import MAX_JSON_DEPTH, json_depth_exceeds, parse_json


@pytest.mark.parametrize("depth", [1, 5, MAX_JSON_DEPTH])
def test_depth_at_the_limit_parses_and_one_more_is_refused(depth: int) -> None:
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        text = opener * depth + "1" + closer * depth
        assert not json_depth_exceeds(text.encode(), depth)
        assert json_depth_exceeds(text.encode(), depth - 1)
    assert parse_json("[" * depth + "]" * depth, source="f", fix="") is not None


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"note": '[[[[[[[[[[ ]]] {{{ \\" [[', "list": [["]]]]"]]})
    assert not json_depth_exceeds(text.encode(), 3)  # an object, a list, a list
    assert json_depth_exceeds(text.encode(), 2)
    assert parse_json(text, source="f", fix="", max_depth=3)["list"] == [["]]]]"]]


def test_hundred_thousand_levels_are_a_clear_error_fast() -> None:
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        parse_json(
            b"[" * 100_000 + b"]" * 100_000,
            source="https://mirror.test/x.json",
            fix="Fix it.",
            error=UpstreamError,
        )
    assert time.monotonic() - started < 2
    assert "nested more than 64 deep" in caught.value.message
    assert caught.value.url == "https://mirror.test/x.json"


def test_unbalanced_deep_openers_are_refused_and_shallow_ones_named_by_the_parser() -> None:
    with pytest.raises(TextFileError, match="nested more than"):
        parse_json("[" * 100_000, source="f", fix="")
    with pytest.raises(TextFileError, match="not valid JSON"):
        parse_json("[[1]", source="f", fix="")


def test_size_limit() -> None:
    with pytest.raises(TextFileError, match="more than the 10 bytes"):
        parse_json('"' + "x" * 20 + '"', source="f", fix="", max_bytes=10)


def test_bundle_manifest_entry_limit() -> None:
    entry = {"path": "k", "size": 1, "sha256": "0" * 64}
    document = {"kind": "kubeferry-bundle", "format": 1, "files": [entry] * (MAX_FILES + 1)}
    with pytest.raises(ManifestError, match=f"lists {MAX_FILES + 1} files.*at most {MAX_FILES}"):
        parse_manifest(json.dumps(document), source="m.json")
