"""`kubeferry keys generate` and `kubeferry bundle sign`: who made a bundle, provably."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubeferry.cli.render import emit
from kubeferry.cli.trust_options import password_option
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console


@click.group()
def keys() -> None:
    """Signing keys for bundles: generate."""


@keys.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@password_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def generate(folder: Path, password: bytes | None, as_json: bool) -> None:
    """Write an ECDSA P-256 key pair into FOLDER: kubeferry.key (private, 0600) and
    kubeferry.pub (give it to whoever installs your bundles); print its fingerprint."""
    from kubeferry.services.keys import generate_keys

    pair = generate_keys(folder, password)
    data = {
        "private_key": str(pair.private_path),
        "public_key": str(pair.public_path),
        "fingerprint": pair.fingerprint,
        "encrypted": pair.encrypted,
    }

    def draw(console: Console) -> None:
        state = "encrypted with the passphrase" if pair.encrypted else "NOT encrypted"
        console.print(f"private key {pair.private_path} (mode 0600, {state}): keep it secret")
        console.print(f"public key  {pair.public_path}: trust it on the offline side")
        console.print(f"fingerprint {pair.fingerprint}")
        console.print(f"sign with: kubeferry bundle sign DIR --key {pair.private_path}")

    emit(data, as_json=as_json, text=draw)


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="KEY",
    help="The private key (kubeferry.key from 'kubeferry keys generate').",
)
@password_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def sign(
    settings: Settings, folder: Path, key_file: Path, password: bytes | None, as_json: bool
) -> None:
    """Verify the bundle FOLDER and write a signature of its manifest beside it
    (kubeferry-bundle.json.<key fingerprint start>.sig; several keys may sign)."""
    from kubeferry.services.keys import sign_bundle

    signed = sign_bundle(settings, folder, key_file, password)

    def draw(console: Console) -> None:
        console.print(f"signed bundle {folder}: {signed.signature.name}")
        console.print(f"key fingerprint {signed.fingerprint}")

    emit(signed.as_dict(), as_json=as_json, text=draw)
