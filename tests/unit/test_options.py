"""Global options work before or after the subcommand."""

from __future__ import annotations

import pytest

from kubeferry.cli.options import hoist_global_options


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["versions", "--offline"], ["--offline", "versions"]),
        (
            ["cache", "list", "--cache-dir", "/c", "--json"],
            ["--cache-dir", "/c", "cache", "list", "--json"],
        ),
        (
            ["cache", "add", "1.30", "--arch=arm64", "-v"],
            ["--arch=arm64", "-v", "cache", "add", "1.30"],
        ),
        (["--home", "/h", "versions"], ["--home", "/h", "versions"]),
        (["kubectl", "get", "--", "--offline"], ["kubectl", "get", "--", "--offline"]),
    ],
    ids=["flag-after", "value-after", "equals-form", "already-first", "stops-at-dashdash"],
)
def test_hoist(argv: list[str], expected: list[str]) -> None:
    assert hoist_global_options(argv) == expected
