"""`kubeferry version` and `kubeferry completion SHELL`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import click

from kubeferry.cli.render import emit
from kubeferry.services.about import describe
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console

SHELLS: Final = ("bash", "zsh", "fish")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def version(settings: Settings, as_json: bool) -> None:
    """kubeferry's version, Python, platform, and the cache, kuberlr and config paths it uses."""
    about = describe(settings)

    def draw(console: Console) -> None:
        console.print(f"kubeferry {about.version}")
        console.print(f"python    {about.python} ({about.python_path})")
        console.print(f"platform  {about.platform}; target {about.target}")
        console.print(f"cache     {about.cache_dir}")
        console.print(f"catalog   {about.catalog}")
        for folder in about.kuberlr_dirs:
            console.print(f"kuberlr   {folder}")
        for path, exists in about.kuberlr_configs:
            console.print(f"config    {path}{'' if exists else ' (absent)'}")
        if about.offline:
            console.print("offline   yes")

    emit(about.as_dict(), as_json=as_json, text=draw)


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (click's shell completion for kubeferry)."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    if completer is None:  # click knows all three; a future click might not
        raise click.UsageError(f"no completion for {shell} in this click version")
    root = ctx.find_root()
    script = completer(root.command, {}, "kubeferry", "_KUBEFERRY_COMPLETE").source()
    click.echo(script)
