"""Help that teaches: full one-line descriptions, Examples, the global options, the environment.

Every command gets these through `adopt()`, which the root group applies to each command it
loads, so command modules stay plain click. `-o json` / `--output json` become `--json` for any
command that has `--json` and no `-o` of its own (kubectl users type it).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Final

import click
import click.formatting

from kubeferry.cli.examples import (
    ALL_GLOBALS,
    ENVIRONMENT,
    ENVIRONMENT_FOR,
    EXAMPLES,
    GLOBALS_FOR,
)

JSON_NOTE: Final = " (also -o json)"


def command_key(ctx: click.Context) -> str:
    """`bundle create` for `kubeferry bundle create` (the root is "")."""
    return " ".join(ctx.command_path.split()[1:])


def first_paragraph(text: str | None) -> str:
    """The first paragraph of a docstring as one line (click would cut it at ~45 characters)."""
    paragraph = (text or "").strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines()).strip()


def _lookup(table: dict[str, Any], key: str, default: Any) -> Any:
    """The entry for `key`, else for its group (`bundle` for `bundle create`), else `default`."""
    while True:
        if key in table:
            return table[key]
        if " " not in key:
            return default
        key = key.rsplit(" ", 1)[0]


def _global_rows(ctx: click.Context, key: str) -> list[tuple[str, str]]:
    root = ctx.find_root()
    wanted = _lookup(GLOBALS_FOR, key, ALL_GLOBALS)
    rows = []
    for param in root.command.params:
        record = param.get_help_record(root)
        if record and isinstance(param, click.Option) and set(param.opts) & set(wanted):
            rows.append(record)
    return rows


def format_extras(ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """Examples, the global options that apply, and the environment variables read."""
    key = command_key(ctx)
    examples = EXAMPLES.get(key)
    if examples:
        with formatter.section("Examples"):
            for line in examples:  # whole, never wrapped: people copy them
                formatter.write(f"{'':>{formatter.current_indent}}{line}\n")
    if key:
        rows = _global_rows(ctx, key)
        if rows:
            with formatter.section("Global options (before or after the command)"):
                formatter.write_dl(rows)
    every = [name for name, _ in ENVIRONMENT]
    names = _lookup(ENVIRONMENT_FOR, key, every) if key else every
    meanings = dict(ENVIRONMENT)
    if names:
        with formatter.section("Environment"):
            formatter.write_dl([(name, meanings[name]) for name in names])


def _rewrite_output(args: list[str]) -> list[str]:
    """`-o json`, `-ojson`, `--output json`, `--output=json` -> `--json`; other formats refused."""
    result: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            result.extend(args[index:])
            break
        value = None
        if word in ("-o", "--output") and index + 1 < len(args):
            value = args[index + 1]
            index += 1
        elif word.startswith("--output="):
            value = word.split("=", 1)[1]
        elif word.startswith("-o") and len(word) > 2 and not word.startswith("--"):
            value = word[2:]
        if value is None:
            result.append(word)
        elif value == "json":
            result.append("--json")
        else:
            raise click.BadParameter(
                f"{value!r}: only json is supported (or leave it out for text)",
                param_hint="'-o' / '--output'",
            )
        index += 1
    return result


def _has_own_output(command: click.Command) -> bool:
    return any(
        "-o" in p.opts or "--output" in p.opts
        for p in command.params
        if isinstance(p, click.Option)
    )


def _has_json(command: click.Command) -> bool:
    return any("--json" in p.opts for p in command.params if isinstance(p, click.Option))


def terminal_columns() -> int:
    """`shutil.get_terminal_size().columns`, without shutil (it brings bz2, lzma and zlib)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0 or sys.__stdout__ is None:  # None: no standard output at all (pythonw)
        return columns if columns > 0 else 80
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class HelpFormatter(click.HelpFormatter):
    """click's formatter, its width found as click finds it but without importing shutil."""

    def __init__(
        self, indent_increment: int = 2, width: int | None = None, max_width: int | None = None
    ) -> None:
        if width is None and click.formatting.FORCED_WIDTH is None:
            widest = 80 if max_width is None else max_width
            width = max(min(terminal_columns(), widest) - 2, 50)
        super().__init__(indent_increment, width, max_width)


class FerryContext(click.Context):
    """A context whose help uses HelpFormatter."""

    formatter_class = HelpFormatter


class FerryCommand(click.Command):
    """A command with Examples, global options and environment in its help."""

    context_class = FerryContext

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The epilog, then the extras."""
        super().format_epilog(ctx, formatter)
        format_extras(ctx, formatter)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Accept `-o json` where the command has `--json`."""
        if _has_json(self) and not _has_own_output(self):
            args = _rewrite_output(args)
        return super().parse_args(ctx, args)


class FerryGroup(click.Group):
    """A group whose help and whose subcommands' help teach the same way."""

    context_class = FerryContext

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The epilog, then the extras."""
        super().format_epilog(ctx, formatter)
        format_extras(ctx, formatter)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The subcommand, adopted."""
        command = super().get_command(ctx, cmd_name)
        return adopt(command) if command is not None else None


def adopt(command: click.Command) -> click.Command:
    """Give a plain click command kubeferry's help (class swap: same fields, new methods).

    Command modules other helpers own stay plain click; this is where they get the house help.
    """
    if not isinstance(command, FerryCommand | FerryGroup):
        command.__class__ = _ADOPTED.get(type(command), type(command))
    if not command.short_help:
        command.short_help = first_paragraph(command.help)
    own_output = _has_own_output(command)
    for param in command.params:
        takes_json = isinstance(param, click.Option) and "--json" in param.opts
        if takes_json and param.help and JSON_NOTE not in param.help and not own_output:
            param.help = param.help.rstrip(".") + JSON_NOTE + "."
    return command


_ADOPTED: Final[dict[type, type]] = {click.Command: FerryCommand, click.Group: FerryGroup}
