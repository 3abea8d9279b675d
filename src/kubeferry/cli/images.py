"""`kubeferry images push`: k3s airgap images into the organisation's registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from kubeferry.cli.progress import progress_board
from kubeferry.cli.registry_options import RegistryAccess, registry_options
from kubeferry.cli.render import emit, human_size
from kubeferry.services.registry import push_images
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console
    from kubeferry.registry.images_push import ImagesPush


@click.group()
def images() -> None:
    """Airgap images: push the k3s images archives into a registry."""


def _draw(reports: list[ImagesPush], registry: str) -> Callable[[Console], None]:
    def draw(console: Console) -> None:
        for report in reports:
            for image in report.images:
                console.print(f"pushed  {image.source} -> {image.target}")
            data = report.as_dict()
            console.print(
                f"{report.archive.name}: {len(report.images)} image names, {data['uploaded']} "
                f"blobs uploaded ({human_size(data['transferred_bytes'])}), {data['mounted']} "
                f"mounted, {data['present']} already in {registry}"
            )
            if report.unnamed:
                console.print(
                    f"{report.unnamed} images have no repository name in the archive and were "
                    "skipped"
                )

    return draw


@images.command()
@click.argument("sources", nargs=-1, required=True, metavar="TAG|DIR|FILE...")
@click.option(
    "--to", "registry", required=True, metavar="REGISTRY", help="HOST[:PORT][/PREFIX] to push into."
)
@click.option("--workers", default=4, show_default=True, help="Parallel blob uploads.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
@click.pass_obj
def push(
    settings: Settings,
    sources: tuple[str, ...],
    registry: str,
    workers: int,
    as_json: bool,
    access: RegistryAccess,
) -> None:
    """Push every image of the airgap archives into REGISTRY, repository paths kept."""
    with progress_board(enabled=not as_json and settings.verbosity >= 0) as board:
        reports = push_images(
            settings, sources, registry, access, workers=workers, progress=board.callback
        )
    emit(
        {"registry": registry, "archives": [r.as_dict() for r in reports]},
        as_json=as_json,
        text=_draw(reports, registry),
    )
