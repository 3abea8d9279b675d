"""Global options: accepted before or after the subcommand (kubectl users expect it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:  # the root imports this module, and `--help` needs no settings
    from kubeferry.settings import Settings

VALUE_OPTIONS: Final = frozenset({"--cache-dir", "--home", "--os", "--arch", "--timeout"})
FLAG_OPTIONS: Final = frozenset(
    {"--offline", "--verbose", "--quiet", "--debug", "-v", "-q", "-vv", "-vvv"}
)


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move global options found after the subcommand to the front (kubectl users expect it).

    Scanning stops at `--`; an option's value travels with it.
    """
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            rest.extend(argv[index:])
            break
        name = word.split("=", 1)[0]
        if name in VALUE_OPTIONS:
            if "=" in word or index + 1 >= len(argv):
                front.append(word)
            else:
                front.extend(argv[index : index + 2])
                index += 1
        elif word in FLAG_OPTIONS:
            front.append(word)
        else:
            rest.append(word)
        index += 1
    return front + rest


def connections_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--connections N`: connections per large file (a server that serves ranges)."""
    return click.option(
        "--connections",
        type=click.IntRange(1, 16),
        default=None,
        metavar="N",
        help="Connections per file of 64 MiB or more when the server serves ranges "
        "(default 4; 1 = one connection).",
    )(function)


def with_connections(settings: Settings, connections: int | None) -> Settings:
    """Settings with `--connections` applied."""
    import dataclasses

    return (
        settings if connections is None else dataclasses.replace(settings, connections=connections)
    )
