"""One renderer: a command's result as text for people or as JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def stdout_console() -> Console:
    """A console on stdout; plain when not a terminal."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """A console on stderr for notes and progress."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit(data: Any, *, as_json: bool, text: Callable[[Console], None]) -> None:
    """Print `data` as JSON, or let `text` draw it for a person."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
        return
    text(stdout_console())


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    """A plain table with the given headers."""
    from rich.table import Table

    result = Table(title=title, show_edge=False, header_style="bold", box=None, pad_edge=False)
    for header in headers:
        result.add_column(header)
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def human_size(size: int) -> str:
    """`1.5 GiB`, `320.0 MiB`, `12 B`."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def note(message: str, *, quiet: bool = False) -> None:
    """A line for the person on stderr (kept out of stdout so pipes stay clean)."""
    if not quiet:
        click.echo(message, err=True)


def is_terminal() -> bool:
    """True when stderr is a terminal (progress bars only then)."""
    return sys.stderr.isatty()


class CommandFailed(Exception):
    """A command printed its report and wants a non-zero exit (e.g. verify found problems)."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code
