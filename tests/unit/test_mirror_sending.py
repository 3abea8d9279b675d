"""Range per RFC 9110 (pure: a header and a size in, what to send out)."""

from __future__ import annotations

import pytest

from kubeferry.mirror.sending import UNSATISFIABLE, byte_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, None, id="no-range"),
        pytest.param("bytes=0-99", (0, 100), id="first-100"),
        pytest.param("bytes=100-", (100, SIZE), id="open-end"),
        pytest.param("bytes=900-5000", (900, SIZE), id="last-past-end-is-clipped"),
        pytest.param("bytes=-10", (990, SIZE), id="suffix"),
        pytest.param("bytes=-5000", (0, SIZE), id="suffix-longer-than-file"),
        pytest.param("bytes=-0", UNSATISFIABLE, id="suffix-zero-is-416"),
        pytest.param("bytes=1000-", UNSATISFIABLE, id="start-at-end-is-416"),
        pytest.param("bytes=5000-6000", UNSATISFIABLE, id="start-past-end-is-416"),
        pytest.param("bytes=0-1,5-6", None, id="multi-range-whole-file"),
        pytest.param("bytes=50-10", None, id="last-before-first-ignored"),
        pytest.param("items=0-10", None, id="other-unit-ignored"),
        pytest.param("bytes=abc", None, id="garbage-ignored"),
        pytest.param("bytes=-", None, id="no-numbers-ignored"),
        pytest.param("bytes=\u00b2-", None, id="non-ascii-digits-ignored"),
        pytest.param(" BYTES = 0-0", (0, 1), id="case-and-spaces"),
    ],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, SIZE) == expected


def test_empty_file_has_no_satisfiable_range() -> None:
    assert byte_range("bytes=0-", 0) == UNSATISFIABLE
    assert byte_range("bytes=-1", 0) == UNSATISFIABLE
