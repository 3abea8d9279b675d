"""`kubeferry bundle create|verify|install`: the source disk for an offline machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubeferry.cli import bundle_oci
from kubeferry.cli.options import connections_option, with_connections
from kubeferry.cli.progress import progress_board
from kubeferry.cli.registry_options import RegistryAccess, registry_options
from kubeferry.cli.render import CommandFailed, emit, human_size, table
from kubeferry.services.bundle import (
    BundlePlan,
    check_bundle,
    create_bundle,
    install_into_target,
)
from kubeferry.services.registry import install_from_registry, is_reference
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.bundle.inspect import BundleContents
    from kubeferry.bundle.install import InstallReport
    from kubeferry.cli.render import Console
    from kubeferry.verification.bundle import VerifyReport


@click.group()
def bundle() -> None:
    """Bundles: everything an offline machine needs, verified, in one folder."""


@bundle.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--k3s",
    "k3s_specs",
    multiple=True,
    default=("stable",),
    show_default=True,
    help="k3s versions: a tag, 1.30.6, 1.30 or a channel (repeatable).",
)
@click.option(
    "--kubectl",
    "kubectl_choice",
    multiple=True,
    default=("auto",),
    show_default=True,
    help="auto (fewest minors covering every k3s minor), exact, none, or versions.",
)
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Use this k3s-versions.json instead of fetching the upstream lists.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and total size; download nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connections_option
@click.pass_obj
def create(
    settings: Settings,
    folder: Path,
    k3s_specs: tuple[str, ...],
    kubectl_choice: tuple[str, ...],
    catalog_file: Path | None,
    dry_run: bool,
    as_json: bool,
    connections: int | None,
) -> None:
    """Fill FOLDER with k3s versions, kubectl binaries, a catalog and a manifest."""
    settings = with_connections(settings, connections)
    with progress_board(enabled=not as_json and settings.verbosity >= 0 and not dry_run) as board:
        made = create_bundle(
            settings,
            folder,
            k3s_specs,
            kubectl_choice,
            catalog_file=catalog_file,
            dry_run=dry_run,
            progress=board.callback,
        )
    if isinstance(made, BundlePlan):
        plan = made.as_dict()
        emit(
            plan,
            as_json=as_json,
            text=lambda console: _draw_plan(console, plan, folder, urls=settings.verbosity > 0),
        )
        return
    plan, manifest = made.plan.as_dict(), made.manifest

    def draw(console: Console) -> None:
        console.print(
            f"bundle {folder}: {len(manifest.files)} files, "
            f"{human_size(sum(f.size for f in manifest.files))}, verified"
        )
        console.print(
            f"k3s {', '.join(plan['k3s'])} ({', '.join(plan['arches'])}); kubectl "
            f"{', '.join(plan['kubectl']) or 'none'} ({', '.join(plan['os'])})"
        )
        console.print(f"on the offline machine: kubeferry bundle install {folder}")

    emit(made.as_dict(), as_json=as_json, text=draw)


def _draw_plan(console: Console, plan: dict[str, Any], folder: Path, *, urls: bool) -> None:
    """The plan as a table; the source URLs with -v (they are long) and always in --json."""
    rows = [
        (
            f["path"],
            human_size(f["size"]) if f["size"] is not None else "?",
            *([f["url"]] if urls else []),
        )
        for f in plan["files"]
    ]
    console.print(table(("FILE", "SIZE", *(["FROM"] if urls else [])), rows))
    unknown = f" (+{plan['unknown_sizes']} of unknown size)" if plan["unknown_sizes"] else ""
    console.print(
        f"plan for {folder}: {len(rows)} files, {human_size(plan['total_bytes'])}"
        f"{unknown}; nothing was downloaded (--dry-run)"
    )


def _draw_verify(console: Console, folder: Path, report: VerifyReport) -> None:
    for path, why in report.bad:
        console.print(f"BAD  {path}: {why}")
    for path in report.extra:
        console.print(f"note {path} is not in the manifest (ignored)")
    state = "OK" if not report.bad else f"{len(report.bad)} bad or missing"
    console.print(
        f"bundle {folder}: {len(report.ok)} of {len(report.manifest.files)} files match the "
        f"manifest; {state}"
    )


@bundle.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inspect(folder: Path, as_json: bool) -> None:
    """What FOLDER holds: k3s versions, kubectl binaries and the k3s minors each covers, sizes,
    and what is missing for which OS (from the manifest; no hashing: see 'bundle verify')."""
    from kubeferry.services.inspect import inspect_bundle

    contents = inspect_bundle(folder)
    emit(contents.as_dict(), as_json=as_json, text=lambda console: _draw_inspect(console, contents))


def _draw_inspect(console: Console, contents: BundleContents) -> None:
    console.print(
        f"bundle {contents.folder}: {human_size(contents.total_size)}, made {contents.created} "
        f"by {contents.tool}; catalog {'yes' if contents.catalog else 'NO'}"
    )
    rows = [(e.tag, e.arch, ", ".join(e.files), human_size(e.size)) for e in contents.k3s]
    console.print(table(("K3S", "ARCH", "FILES", "SIZE"), rows))
    rows = [
        (e.version, f"{e.os}/{e.arch}", ", ".join(e.covers) or "none", human_size(e.size))
        for e in contents.kubectls
    ]
    console.print(table(("KUBECTL", "FOR", "COVERS K3S", "SIZE"), rows) if rows else "no kubectl")
    for gap in contents.missing:
        console.print(f"missing: {gap}")
    for path in contents.absent_on_disk:
        console.print(f"absent on disk: {path} (listed in the manifest)")
    if not contents.missing and not contents.absent_on_disk:
        console.print("nothing missing for the targets it was made for")


@bundle.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def verify(settings: Settings, folder: Path, as_json: bool) -> None:
    """Re-hash every file against the manifest; exit 1 while anything is wrong."""
    report = check_bundle(folder, settings)
    emit(
        report.as_dict(),
        as_json=as_json,
        text=lambda console: _draw_verify(console, folder, report),
    )
    if report.bad:
        raise CommandFailed(1)


@bundle.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--link",
    is_flag=True,
    help="Hard-link files instead of copying (same disk only; the bundle and the cache then "
    "share their bytes: editing one changes the other).",
)
@registry_options
@click.pass_obj
def install(
    settings: Settings, folder: Path, as_json: bool, link: bool, access: RegistryAccess
) -> None:
    """Verify FOLDER (or pull the registry reference FOLDER), then place it into the Rancher
    Desktop cache and the kuberlr folder."""
    if is_reference(str(folder)):  # HOST[:PORT]/REPO:TAG, not a folder here
        with progress_board(enabled=not as_json and settings.verbosity >= 0) as board:
            result = install_from_registry(
                settings, str(folder), access, link=link, progress=board.callback
            )
    else:
        result = install_into_target(settings, folder, link=link)
    emit(result.as_dict(), as_json=as_json, text=lambda console: _draw_install(console, result))


def _draw_install(console: Console, result: InstallReport) -> None:
    target = result.target
    for path in result.placed:
        console.print(f"placed  {path}")
    if result.unreadable_catalog:
        console.print(
            f"the cache's catalog could not be read; it was kept as "
            f"{result.unreadable_catalog} and replaced by the bundle's"
        )
    if not result.placed and not result.catalog_changed:
        console.print(f"nothing to do: all {len(result.present)} files were already in place")
    elif result.present:
        console.print(f"{len(result.present)} files were already in place")
    if result.skipped:
        console.print(
            f"{len(result.skipped)} kubectl files are for another OS or arch "
            f"than {', '.join(target.kubectl_platforms)} and were left in the bundle"
        )
    console.print(f"cache {target.cache_dir}; kubectl {target.home / '.kuberlr'}")


bundle.add_command(bundle_oci.push)  # registry commands live in cli/bundle_oci.py
bundle.add_command(bundle_oci.pull)
