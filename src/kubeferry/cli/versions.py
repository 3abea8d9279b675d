"""`kubeferry versions`: the k3s versions a user can pick now."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kubeferry.cli.render import emit, note, table
from kubeferry.services.versions import list_versions
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def versions(settings: Settings, as_json: bool) -> None:
    """List the k3s versions to choose from (offline: only verified cached ones)."""
    listing = list_versions(settings)
    if listing.catalog_warning:
        note(listing.catalog_warning, quiet=settings.verbosity < 0)
    choices, source = listing.versions, listing.catalog

    def draw(console: Console) -> None:
        mode = "offline: cached versions only" if settings.offline else "online"
        console.print(f"k3s versions ({mode}; catalog: {source}; arch {settings.arch})")
        rows = [
            (
                str(c.tag),
                ", ".join(c.channels),
                "yes" if c.cached else "",
                c.kubectl or "",
                "" if c.listed else "not in catalog",
            )
            for c in choices
        ]
        console.print(table(("VERSION", "CHANNELS", "CACHED", "KUBECTL", "NOTE"), rows))
        if settings.offline and not choices:
            console.print(
                f"no verified version in {settings.cache_dir / 'k3s'}; "
                "run 'kubeferry bundle install' or 'kubeferry cache add' first"
            )

    emit(listing.as_dict(), as_json=as_json, text=draw)
