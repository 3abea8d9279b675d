"""`kubeferry node install|check`: plain k3s nodes, installed as k3s's air-gap page does."""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubeferry.cli.registry_options import registry_options
from kubeferry.cli.render import CommandFailed, emit
from kubeferry.cli.trust_options import trust_options
from kubeferry.services.registries import DEFAULT_REGISTRIES, MirrorSettings
from kubeferry.services.registry_access import RegistryAccess
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console
    from kubeferry.services.node import NodeCheck, NodeReport
    from kubeferry.verification.keys import Trust


@click.group()
def node() -> None:
    """Plain k3s nodes: binary, airgap images, registries.yaml and k3s's install script."""


@node.command()
@click.argument("source")
@click.option("--k3s", "k3s_spec", metavar="TAG|CHANNEL|1.N", help="Release (default: stable).")
@click.option(
    "--root", type=click.Path(path_type=Path), metavar="DIR", help="Place under DIR (image builds)."
)
@click.option("--dry-run", is_flag=True, help="Show what would be placed; change nothing.")
@click.option("--exec", "exec_line", metavar="ARGS", help="INSTALL_K3S_EXEC, e.g. 'server ...'.")
@click.option("--server", metavar="URL", help="K3S_URL: the server to join (https://HOST:6443).")
@click.option(
    "--token-file",
    type=click.Path(path_type=Path),
    help="K3S_TOKEN_FILE: the file holding the join token (never the token itself).",
)
@click.option("--agent", is_flag=True, help="Install an agent (needs --server, --token-file).")
@click.option("--registry-mirror", metavar="URL", help="Write registries.yaml for this mirror.")
@click.option(
    "--registry",
    "hosts",
    multiple=True,
    metavar="HOST",
    help=f"Registry to mirror (repeatable; default {', '.join(DEFAULT_REGISTRIES)}).",
)
@click.option("--registry-ca-file", metavar="PATH", help="CA bundle (on the node) for the mirror.")
@click.option(
    "--registry-insecure-skip-verify", is_flag=True, help="Do not verify the mirror's cert."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
@trust_options
@click.pass_obj
def install(
    settings: Settings,
    source: str,
    k3s_spec: str | None,
    root: Path | None,
    dry_run: bool,
    exec_line: str | None,
    server: str | None,
    token_file: Path | None,
    agent: bool,
    registry_mirror: str | None,
    hosts: tuple[str, ...],
    registry_ca_file: str | None,
    registry_insecure_skip_verify: bool,
    as_json: bool,
    access: RegistryAccess,
    trust: Trust,
) -> None:
    """Verify SOURCE (a bundle folder, a registry REF, or a kubeferry mirror URL), place the k3s
    release on this node (or under --root) and run its install.sh with
    INSTALL_K3S_SKIP_DOWNLOAD=true."""
    from kubeferry.services.node import NodeRequest, ScriptOptions, install_node
    from kubeferry.services.registry import is_reference, pulled_bundle

    mirror = None
    if registry_mirror:
        mirror = MirrorSettings(
            mirror=registry_mirror,
            registries=hosts or DEFAULT_REGISTRIES,
            ca_file=registry_ca_file,
            insecure_skip_verify=registry_insecure_skip_verify,
        )
    request = NodeRequest(
        source=source,
        k3s=k3s_spec,
        root=root,
        dry_run=dry_run,
        script=ScriptOptions(
            exec_line, server, token_file.absolute() if token_file else None, agent
        ),
        mirror=mirror,
    )
    if is_reference(source):  # HOST[:PORT]/REPO:TAG, not a folder here
        with pulled_bundle(settings, source, access, trust=trust) as folder:
            pulled = replace(request, source=str(folder))
            report = install_node(settings, pulled, label=source, trust=trust)
    else:
        report = install_node(settings, request, trust=trust)
    if report.script is not None and not as_json and settings.verbosity >= 0:
        sys.stderr.write(report.script.output)
    emit(report.as_dict(), as_json=as_json, text=lambda console: _draw_install(console, report))


def _draw_install(console: Console, report: NodeReport) -> None:
    node = report.node
    verb = "would place" if report.dry_run else "placed"
    for name, path, present in report.files:
        console.print(f"{'in place' if present else verb:11} {path}  ({name})")
    if report.registries:
        console.print(f"registries.yaml: {report.registries}")
    placed = report.placed
    if not placed and not report.dry_run:
        console.print(f"nothing changed: all {len(report.files)} files were already in place")
    variables = " ".join(f"{k}={shlex.quote(v)}" for k, v in report.environment.items())
    rooted = f" --root {shlex.quote(str(node.root))}" if node.root != Path("/") else ""
    if report.dry_run:
        console.print(f"would run {node.install_script} with {variables}")
        console.print("nothing was placed or run (--dry-run)")
    else:
        console.print(f"ran {node.install_script} with {variables}")
        console.print(
            f"k3s {node.tag} ({node.arch}) on {node.root}; check: kubeferry node check{rooted}"
        )


@node.command()
@click.option("--root", type=click.Path(path_type=Path), default=Path("/"), help="Node root.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(root: Path, as_json: bool) -> None:
    """What is placed, whether it is one release, registries.yaml's mirrors; exit 1 until the
    node is ready, with the command that fixes each gap."""
    from kubeferry.services.node import check_node

    result = check_node(root)
    emit(result.as_dict(), as_json=as_json, text=lambda console: _draw_check(console, result))
    if not result.ready:
        raise CommandFailed(1)


def _draw_check(console: Console, result: NodeCheck) -> None:
    for finding in result.findings:
        console.print(f"{'ok ' if finding.ok else 'GAP'} {finding.item}: {finding.detail}")
        if finding.fix:
            console.print(f"    fix: {finding.fix}")
    state = "ready" if result.ready else "NOT ready"
    release = f"k3s {result.tag} ({result.arch})" if result.tag else "no k3s release"
    console.print(f"node {result.root}: {release}; {state}")
