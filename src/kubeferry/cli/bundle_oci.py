"""`kubeferry bundle push|pull`, and `bundle install REF`: bundles through an OCI registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubeferry.cli.progress import progress_board
from kubeferry.cli.registry_options import RegistryAccess, registry_options
from kubeferry.cli.render import emit, human_size
from kubeferry.cli.trust_options import trust_options
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console
    from kubeferry.registry.bundle_artifact import BundleTransfer
    from kubeferry.verification.keys import Trust


def _draw(transfer: BundleTransfer, verb: str, where: str) -> Callable[[Console], None]:
    """`pushed ...: N blobs sent` or `pulled ...: N blobs fetched`, with the bytes really moved."""

    def draw(console: Console) -> None:
        counts = transfer.as_dict()
        moved = human_size(counts["transferred_bytes"])
        if verb == "pushed":
            line = (
                f"{counts['uploaded']} blobs sent ({moved}), {counts['present']} already there, "
                f"{counts['mounted']} mounted"
            )
        else:
            fetched = counts.get("fetched", 0)
            line = f"{fetched} blobs fetched ({moved}), {counts['present']} already there"
        console.print(f"{verb} {transfer.reference} {where}: {line}")
        console.print(f"digest {transfer.digest}")
        for name in transfer.signatures:
            console.print(f"signature {name}")
        for signer in transfer.signed_by:
            console.print(f"signed by {signer}: trusted")

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
    from kubeferry.services.registry import push_bundle_to  # not loaded by the other commands

    with progress_board(enabled=not as_json and settings.verbosity >= 0) as board:
        transfer = push_bundle_to(
            settings, folder, reference, access, mount_from=mount_from, progress=board.callback
        )
    emit(transfer.as_dict(), as_json=as_json, text=_draw(transfer, "pushed", f"from {folder}"))


@click.command()
@click.argument("reference")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
@trust_options
@click.pass_obj
def pull(
    settings: Settings,
    reference: str,
    folder: Path,
    as_json: bool,
    access: RegistryAccess,
    trust: Trust,
) -> None:
    """Pull the bundle REFERENCE into FOLDER with its signatures; run it again to resume;
    signatures checked first (when trusted keys are configured), files verified at the end."""
    from kubeferry.services.registry import pull_bundle_from  # not loaded by the other commands

    with progress_board(enabled=not as_json and settings.verbosity >= 0) as board:
        transfer = pull_bundle_from(
            settings, reference, folder, access, progress=board.callback, trust=trust
        )
    emit(transfer.as_dict(), as_json=as_json, text=_draw(transfer, "pulled", f"into {folder}"))
