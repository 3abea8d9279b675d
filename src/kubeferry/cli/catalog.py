"""`kubeferry catalog update|convert`: click glue over services/catalog.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubeferry.cli.render import emit, stderr_console
from kubeferry.services.catalog import (
    DEFAULT_MINIMUM,
    convert_catalog,
    convert_to_text,
    output_path,
    parse_minimum,
    update_catalog,
)
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console
    from kubeferry.core.versions import KubeVersion


def _minimum(value: str) -> KubeVersion:
    version = parse_minimum(value)
    if version is None:
        raise click.BadParameter(
            f"{value!r} is not a version like 1.25.3", param_hint="--min-version"
        )
    return version


def _print_summary(summary: dict[str, Any]) -> Callable[[Console], None]:
    def draw(console: Console) -> None:
        stable = summary["channels"].get("stable", "-")
        console.print(
            f"wrote {summary['path']}: {summary['versions']} versions "
            f"({summary['oldest']} .. {summary['newest']}), stable {stable}, "
            f"{len(summary['channels'])} channels"
        )

    return draw


@click.group()
def catalog() -> None:
    """The k3s version catalog (Rancher Desktop's k3s-versions.json)."""


@catalog.command()
@click.option(
    "--min-version",
    default=DEFAULT_MINIMUM,
    show_default=True,
    help="Oldest Kubernetes version to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_obj
def update(settings: Settings, min_version: str, as_json: bool) -> None:
    """Fetch the channel list and releases and write <cache>/k3s-versions.json."""
    summary = update_catalog(settings, _minimum(min_version)).as_dict()
    emit(summary, as_json=as_json, text=_print_summary(summary))


@catalog.command()
@click.option(
    "--channels",
    "channels_file",
    required=True,
    type=click.Path(path_type=Path),
    help="Saved update.k3s.io/v1-release/channels JSON.",
)
@click.option(
    "--releases",
    "releases_files",
    required=True,
    multiple=True,
    type=click.Path(path_type=Path),
    help="Saved GitHub releases JSON: one page, or a list of pages (repeatable).",
)
@click.option(
    "-o",
    "--output",
    default=None,
    help="Where to write ('-' for stdout; default <cache>/k3s-versions.json).",
)
@click.option(
    "--min-version",
    default=DEFAULT_MINIMUM,
    show_default=True,
    help="Oldest Kubernetes version to list.",
)
@click.pass_obj
def convert(
    settings: Settings,
    channels_file: Path,
    releases_files: tuple[Path, ...],
    output: str | None,
    min_version: str,
) -> None:
    """Convert saved upstream JSON into k3s-versions.json, offline."""
    minimum = _minimum(min_version)
    if output == "-":
        sys.stdout.write(convert_to_text(channels_file, releases_files, minimum))
        return
    destination = output_path(output)
    summary = convert_catalog(settings, channels_file, releases_files, minimum, destination)
    if settings.verbosity >= 0:
        _print_summary(summary.as_dict())(stderr_console())
