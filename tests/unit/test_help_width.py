"""Help is as wide as click would make it, though kubeferry's formatter never imports shutil."""

from __future__ import annotations

import click
import pytest

from kubeferry.cli.help import HelpFormatter


@pytest.mark.parametrize("max_width", [100, 60, None], ids=["max-100", "max-60", "max-default"])
@pytest.mark.parametrize(
    "columns",
    [None, "30", "72", "90", "240", "", "wide", "-5", "0"],
    ids=["unset", "30", "72", "90", "240", "empty", "word", "negative", "zero"],
)
def test_width_matches_click(
    monkeypatch: pytest.MonkeyPatch, columns: str | None, max_width: int | None
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    expected = click.HelpFormatter(max_width=max_width).width
    assert HelpFormatter(max_width=max_width).width == expected


def test_a_given_width_is_kept() -> None:
    assert HelpFormatter(width=57, max_width=100).width == 57
