"""`kubeferry images push`: k3s airgap images into the organisation's registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubeferry.cli.progress import progress_board
from kubeferry.cli.registry_options import RegistryAccess, registry_options
from kubeferry.cli.render import emit, human_size
from kubeferry.core.platforms import K3sAssets
from kubeferry.errors import NotFoundError
from kubeferry.fleet.images import ImagesPush, push_archives
from kubeferry.net.oci_ref import parse_registry
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console


@click.group()
def images() -> None:
    """Airgap images: push the k3s images archives into a registry."""


def _in_folder(folder: Path) -> list[Path]:
    """A bundle's (or cache's) `k3s/*/k3s-airgap-images-*`: one archive per tag and arch."""
    chosen: dict[tuple[Path, str], Path] = {}
    for path in sorted(folder.glob("k3s/*/k3s-airgap-images-*")):
        if path.is_symlink() or not path.is_file() or not path.name.endswith((".tar", ".tar.zst")):
            continue
        stem = path.name.removesuffix(".zst").removesuffix(".tar")
        # .tar and .tar.zst hold the same images; the .tar is read with seeks, in parallel
        if (path.parent, stem) not in chosen or path.name.endswith(".tar"):
            chosen[(path.parent, stem)] = path
    return list(chosen.values())


def _cached(settings: Settings, tag: str) -> list[Path]:
    folder = settings.cache_dir / "k3s" / tag
    if not folder.is_dir() and not tag.startswith("v"):
        folder = settings.cache_dir / "k3s" / f"v{tag}"
    found = []
    for arch in settings.arches:
        for name in reversed(K3sAssets(arch).images):  # .tar first, then .tar.zst
            if (folder / name).is_file():
                found.append(folder / name)
                break
    if not found:
        cached = sorted(p.name for p in (settings.cache_dir / "k3s").glob("*") if p.is_dir())
        raise NotFoundError(
            f"{tag!r} is not a file, a folder, or a k3s version with an images archive for "
            f"{', '.join(settings.arches)} in {settings.cache_dir / 'k3s'} (cached: "
            f"{', '.join(cached) or 'none'}). Give an archive or a bundle folder, or fill the "
            "cache first ('kubeferry cache add').",
            path=folder,
        )
    return found


def resolve_archives(settings: Settings, sources: tuple[str, ...]) -> list[Path]:
    """TAG (cached version), DIR (bundle folder) or FILE (an archive) -> archives."""
    archives: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_file():
            archives.append(path)
        elif path.is_dir():
            found = _in_folder(path)
            if not found:
                raise NotFoundError(
                    f"{path} holds no k3s/<tag>/k3s-airgap-images-* archive. Give a bundle "
                    "folder, an archive file, or a cached k3s version.",
                    path=path,
                )
            archives += found
        else:
            archives += _cached(settings, source)
    return list(dict.fromkeys(archives))


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
    host, prefix = parse_registry(registry)
    archives = resolve_archives(settings, sources)
    with (
        access.client(host, settings) as client,
        progress_board(enabled=not as_json and settings.verbosity >= 0) as board,
    ):
        client.ping()
        reports = push_archives(
            client, archives, prefix=prefix, progress=board.callback, workers=max(1, workers)
        )
    emit(
        {"registry": registry, "archives": [r.as_dict() for r in reports]},
        as_json=as_json,
        text=_draw(reports, registry),
    )
