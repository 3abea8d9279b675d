"""`kubeferry shim install|uninstall`: the `kubectl` on PATH that is the wrapper."""

from __future__ import annotations

from pathlib import Path

import click

from kubeferry.cli.render import emit, note
from kubeferry.services.launcher import install_launcher, uninstall_launcher
from kubeferry.settings import Settings

FOLDER_HELP = "Folder on PATH for the kubectl launcher (default ~/.local/bin)."


@click.group()
def shim() -> None:
    """The kubectl wrapper: a `kubectl` on PATH that picks the kubectl fitting each cluster."""


@shim.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=None, help=FOLDER_HELP)
@click.option("--force", is_flag=True, help="Replace an existing kubectl there.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def install(settings: Settings, folder: Path | None, force: bool, as_json: bool) -> None:
    """Install `kubectl` as the wrapper in a PATH folder and warn about a shadowing kubectl
    (on Windows `kubectl.exe`; a launcher for another OS than this one is refused)."""
    change = install_launcher(settings, folder, force=force)
    quiet = settings.verbosity < 0 or as_json
    note(f"installed {change.path} -> the kubeferry wrapper", quiet=quiet)
    for warning in change.warnings:
        note(f"warning: {warning}", quiet=quiet)
    if as_json:
        emit(change.as_dict(), as_json=True, text=lambda console: None)


@shim.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=None, help=FOLDER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def uninstall(settings: Settings, folder: Path | None, as_json: bool) -> None:
    """Remove the kubectl launcher 'shim install' wrote; any other kubectl is left untouched."""
    change = uninstall_launcher(settings, folder)

    def draw(console: object) -> None:
        if change.action == "removed":
            note(f"removed {change.path}", quiet=settings.verbosity < 0)
        else:
            note(f"no kubectl at {change.path}; nothing to remove", quiet=settings.verbosity < 0)

    emit(change.as_dict(), as_json=as_json, text=draw)
