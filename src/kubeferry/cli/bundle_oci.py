"""`kubeferry bundle push|pull`, and `bundle install REF`: bundles through an OCI registry."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from kubeferry.cli.progress import progress_board
from kubeferry.cli.registry_options import RegistryAccess, registry_options
from kubeferry.cli.render import emit, human_size
from kubeferry.fleet.bundle_oci import BundleTransfer, pull_bundle, push_bundle
from kubeferry.net.oci_ref import looks_like_host, parse_reference
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

STAGING: Final = ".kubeferry-pulled-bundles"  # under the cache dir: same disk, so install links


def _draw(transfer: BundleTransfer, verb: str, where: str) -> Callable[[Console], None]:
    def draw(console: Console) -> None:
        counts = transfer.as_dict()
        moved = counts.get("uploaded", 0) + counts.get("fetched", 0)
        console.print(
            f"{verb} {transfer.reference} {where}: {moved} "
            f"blobs sent/fetched ({human_size(counts['transferred_bytes'])}), "
            f"{counts['present']} already there, {counts['mounted']} mounted"
        )
        console.print(f"digest {transfer.digest}")

    return draw


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("reference")
@click.option(
    "--mount-from",
    "mount_from",
    multiple=True,
    metavar="REPOSITORY",
    help="Mount blobs the registry holds in this repository instead of uploading (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
@click.pass_obj
def push(
    settings: Settings,
    folder: Path,
    reference: str,
    mount_from: tuple[str, ...],
    as_json: bool,
    access: RegistryAccess,
) -> None:
    """Push the verified bundle FOLDER to REFERENCE (HOST[:PORT]/REPO:TAG) as one artifact."""
    ref = parse_reference(reference)
    with (
        access.client(ref.registry, settings) as client,
        progress_board(enabled=not as_json and settings.verbosity >= 0) as board,
    ):
        client.ping()
        transfer = push_bundle(client, folder, ref, mount_from=mount_from, progress=board.callback)
    emit(transfer.as_dict(), as_json=as_json, text=_draw(transfer, "pushed", f"from {folder}"))


def pull_into(
    settings: Settings, reference: str, folder: Path, access: RegistryAccess, *, show: bool
) -> BundleTransfer:
    """Pull REFERENCE into `folder` (resumable; verified before it returns)."""
    ref = parse_reference(reference)
    with access.client(ref.registry, settings) as client, progress_board(enabled=show) as board:
        return pull_bundle(client, ref, folder, progress=board.callback)


@click.command()
@click.argument("reference")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
@click.pass_obj
def pull(
    settings: Settings, reference: str, folder: Path, as_json: bool, access: RegistryAccess
) -> None:
    """Pull the bundle REFERENCE into FOLDER; run it again to resume; verified at the end."""
    transfer = pull_into(
        settings, reference, folder, access, show=not as_json and settings.verbosity >= 0
    )
    emit(transfer.as_dict(), as_json=as_json, text=_draw(transfer, "pulled", f"into {folder}"))


def is_reference(argument: str) -> bool:
    """True when `argument` is not an existing folder but reads as HOST[:PORT]/REPO[:TAG]."""
    if Path(argument).exists():
        return False
    host, slash, _ = argument.partition("/")
    return bool(slash) and looks_like_host(host)


def staged_bundle(
    settings: Settings, reference: str, access: RegistryAccess, *, show: bool
) -> Path:
    """Pull REFERENCE into a folder under the cache dir, for `bundle install REF`."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", reference)
    folder = settings.cache_dir / STAGING / name
    pull_into(settings, reference, folder, access, show=show)
    return folder


def discard_staged(folder: Path) -> None:
    """Remove a staged pull after a successful install (its files are linked into the cache)."""
    shutil.rmtree(folder, ignore_errors=True)
