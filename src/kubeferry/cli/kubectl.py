"""`kubeferry kubectl list|get|which`: click glue over services/kubectl.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kubeferry.cli.options import connections_option, with_connections
from kubeferry.cli.render import emit, table
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console


@click.group()
def kubectl() -> None:
    """kubectl binaries in the kuberlr folder (~/.kuberlr/<os>-<arch>)."""


@kubectl.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(settings: Settings, as_json: bool) -> None:
    """kubectl binaries the wrapper and kuberlr can use, newest first."""
    from kubeferry.services.kubectl import list_local  # the others need the network stack

    listing = list_local(settings)
    rows = listing.kubectls

    def draw(console: Console) -> None:
        if not rows:
            console.print(f"no kubectl in {', '.join(listing.folders)} or {listing.system_path}")
            return
        console.print(
            table(
                ("VERSION", "WHERE", "PATH"), [(r["version"], r["where"], r["path"]) for r in rows]
            )
        )

    emit(listing.as_dict(), as_json=as_json, text=draw)


@kubectl.command()
@click.argument("versions", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connections_option
@click.pass_obj
def get(
    settings: Settings, versions: tuple[str, ...], as_json: bool, connections: int | None
) -> None:
    """Download kubectl VERSION (1.30 = newest 1.30 patch) into the kuberlr folder, verified."""
    from kubeferry.cli.progress import progress_board
    from kubeferry.services.kubectl import get_kubectls

    settings = with_connections(settings, connections)
    with progress_board(enabled=not as_json) as board:
        done = get_kubectls(settings, versions, progress=board.callback)
    data = done.as_dict()

    def draw(console: Console) -> None:
        for item in data["kubectls"]:
            console.print(f"kubectl {item['version']} ({item['arch']}): verified -> {item['path']}")

    emit(data, as_json=as_json, text=draw)


@kubectl.command()
@click.option("--context", "context", default=None, help="Kubeconfig context to ask.")
@click.option("--kubeconfig", "kubeconfig", default=None, help="Kubeconfig file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def which(settings: Settings, context: str | None, kubeconfig: str | None, as_json: bool) -> None:
    """Which kubectl the wrapper would run for the current context, and why."""
    from kubeferry.services.kubectl import explain_choice

    args = [
        *(["--context", context] if context else []),
        *(["--kubeconfig", kubeconfig] if kubeconfig else []),
    ]
    choice = explain_choice(settings, args)

    def draw(console: Console) -> None:
        if choice.path:
            console.print(choice.path)
        else:
            console.print(f"would download kubectl {choice.download} into {choice.folder}")
        for reason in choice.reasons:
            console.print(f"  - {reason}")

    emit(choice.as_dict(), as_json=as_json, text=draw)


@kubectl.command()
@click.argument("versions", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def remove(settings: Settings, versions: tuple[str, ...], as_json: bool) -> None:
    """Delete kubectl VERSION (1.30.6) from the kuberlr folder; a system kubectl is left alone."""
    from kubeferry.services.kubectl_remove import remove_kubectls

    done = remove_kubectls(settings, versions)

    def draw(console: Console) -> None:
        for path in done.removed:
            console.print(f"removed {path}")

    emit(done.as_dict(), as_json=as_json, text=draw)
