"""One renderer: a command's result as text for people or as JSON for machines.

Text is plain: no colour, no bold, no padding at line ends, nothing cut to the terminal's width
(a URL is printed whole). That is what NO_COLOR, pipes and terminals all get; only progress bars
use rich, and only on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console as RichConsole


class Table:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.headers = tuple(headers)
        self.rows = [tuple(row) for row in rows]

    def __str__(self) -> str:
        lines = [self.headers, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.headers))]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        )


class Console:
    """Prints plain lines to stdout or stderr (the rich Console subset commands use)."""

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr

    def print(self, *objects: object, **_style: object) -> None:
        """Each object's text on one line, trailing spaces removed."""
        text = " ".join(str(o) for o in objects)
        click.echo("\n".join(line.rstrip() for line in text.split("\n")), err=self.stderr)


def stdout_console() -> Console:
    """Plain text on stdout."""
    return Console()


def stderr_console() -> Console:
    """Plain text on stderr, for notes."""
    return Console(stderr=True)


def rich_stderr_console() -> RichConsole:
    """A rich console on stderr for progress bars (only made on a terminal)."""
    from rich.console import Console as RichConsole

    return RichConsole(stderr=True, highlight=False, soft_wrap=True)


def emit(data: Any, *, as_json: bool, text: Callable[[Console], None]) -> None:
    """Print `data` as JSON, or let `text` draw it for a person."""
    if as_json:
        import json  # only for --json: text output is the common case

        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
        return
    text(stdout_console())


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    """A plain table with the given headers (a title, when given, is dropped: say it in a line)."""
    return Table(
        headers, [tuple("" if cell is None else str(cell) for cell in row) for row in rows]
    )


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
