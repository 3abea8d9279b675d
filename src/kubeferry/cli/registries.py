"""`kubeferry registries write|check`: the registries.yaml k3s reads, where it reads it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubeferry.cli.registry_options import read_password
from kubeferry.cli.render import CommandFailed, emit
from kubeferry.services.registries import (
    DEFAULT_REGISTRIES,
    MirrorSettings,
    check_registries_file,
    check_registries_files,
    write_registries_for,
)
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console


@click.group()
def registries() -> None:
    """Registry mirrors for k3s and Rancher Desktop (registries.yaml)."""


@registries.command()
@click.argument("hosts_dir", required=False, type=click.Path(path_type=Path), metavar="[DIR]")
@click.option("--mirror", required=True, metavar="REGISTRY", help="HOST[:PORT][/PREFIX] to use.")
@click.option(
    "--registry",
    "hosts",
    multiple=True,
    metavar="HOST",
    help=f"Registry to mirror (repeatable; default {', '.join(DEFAULT_REGISTRIES)}).",
)
@click.option(
    "--for",
    "target",
    default="rancher-desktop",
    show_default=True,
    metavar="rancher-desktop|k3s|containerd|FILE",
    help="Where k3s will read it; 'containerd DIR' writes DIR/<host>/hosts.toml.",
)
@click.option("--root", type=click.Path(path_type=Path), default=Path("/"), hidden=True)
@click.option("--plain-http", is_flag=True, help="The mirror speaks HTTP, not HTTPS.")
@click.option("--ca-file", metavar="PATH", help="CA bundle (inside the VM/node) for the mirror.")
@click.option("--insecure-skip-verify", is_flag=True, help="Do not verify the mirror's cert.")
@click.option("--username", metavar="USER", help="Mirror user (password on stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the mirror password from stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def write(
    settings: Settings,
    hosts_dir: Path | None,
    mirror: str,
    hosts: tuple[str, ...],
    target: str,
    root: Path,
    plain_http: bool,
    ca_file: str | None,
    insecure_skip_verify: bool,
    username: str | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Write a validated registries.yaml pointing k3s at MIRROR, merged with what is there
    (or containerd's hosts.toml files with --for containerd DIR).

    A kubeferry mirror (`mirror serve`) keeps registry paths: give it without a path
    (--mirror http://MIRROR:PORT --plain-http) and no rewrite is written."""
    if hosts_dir is not None and target != "containerd":
        raise click.UsageError(f"DIR ({hosts_dir}) is only for --for containerd DIR.")
    password = read_password(username, password_stdin)
    written = write_registries_for(
        settings,
        MirrorSettings(
            mirror=mirror,
            registries=hosts or DEFAULT_REGISTRIES,
            plain_http=plain_http,
            ca_file=ca_file,
            insecure_skip_verify=insecure_skip_verify,
            username=username,
            password=password,
        ),
        target,
        root,
        hosts_dir,
    )
    kind = written.kind

    def draw(console: Console) -> None:
        console.print(f"wrote {written.path} ({written.kind})")
        console.print(f"mirrors {', '.join(written.mirrors)} -> {mirror}")
        if kind == "containerd-hosts":
            console.print("containerd: config_path = that folder; ctr: --hosts-dir that folder")
        elif kind != "registries.yaml":
            console.print("restart Rancher Desktop to apply it")

    emit(written.as_dict(), as_json=as_json, text=draw)


@registries.command()
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--root", type=click.Path(path_type=Path), default=Path("/"), hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def check(settings: Settings, file: Path | None, root: Path, as_json: bool) -> None:
    """Check FILE (one written with --for FILE), else the registries.yaml files k3s and Rancher
    Desktop would apply; exit 1 on problems."""
    if file is not None:
        checks = [check_registries_file(file)]
    else:
        checks = check_registries_files(settings, root)

    def draw(console: Console) -> None:
        if not checks:
            console.print("no registries.yaml or Rancher Desktop provisioning file found")
        for item in checks:
            state = "OK" if not item.problems else f"{len(item.problems)} problems"
            console.print(f"{item.path}: {state}; mirrors {', '.join(item.mirrors) or 'none'}")
            for problem in item.problems:
                console.print(f"  {problem}")

    emit([c.as_dict() for c in checks], as_json=as_json, text=draw)
    if any(c.problems for c in checks):
        raise CommandFailed(1)
