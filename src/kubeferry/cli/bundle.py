"""`kubeferry bundle create|verify|install`: the source disk for an offline machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubeferry.cli import bundle_oci
from kubeferry.cli.image_options import image_options
from kubeferry.cli.keys import sign as sign_command
from kubeferry.cli.options import connections_option, with_connections
from kubeferry.cli.progress import progress_board
from kubeferry.cli.registry_options import RegistryAccess, registry_options
from kubeferry.cli.render import CommandFailed, emit, human_size, table
from kubeferry.cli.trust_options import key_password_option, trust_options
from kubeferry.services.bundle import (
    BundlePlan,
    CreatedBundle,
    check_bundle,
    create_bundle,
    install_into_target,
)
from kubeferry.services.bundle_images import ImageRequest
from kubeferry.services.trust import signatures_of
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.bundle.inspect import BundleContents
    from kubeferry.bundle.install import InstallReport
    from kubeferry.cli.render import Console
    from kubeferry.verification.bundle import VerifyReport
    from kubeferry.verification.keys import Trust
    from kubeferry.verification.trust import SignatureCheck


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
@click.option(
    "--sign-key",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="KEY",
    help="Sign the manifest with this private key (kubeferry.key) when the bundle is complete.",
)
@key_password_option
@click.option(
    "--force", is_flag=True, help="Make the bundle in a folder that holds unrelated files."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@image_options
@connections_option
@click.pass_obj
def create(
    settings: Settings,
    folder: Path,
    k3s_specs: tuple[str, ...],
    kubectl_choice: tuple[str, ...],
    catalog_file: Path | None,
    dry_run: bool,
    sign_key: Path | None,
    password: bytes | None,
    force: bool,
    as_json: bool,
    images: ImageRequest,
    connections: int | None,
) -> None:
    """Fill FOLDER with k3s versions, kubectl binaries, a catalog, workload images (--image)
    and a manifest (and sign it with --sign-key). `--k3s none` makes a bundle of images only."""
    settings = with_connections(settings, connections)
    key = None
    if sign_key is not None and not dry_run:  # read first: a wrong passphrase fails at once
        from kubeferry.services.keys import load_signing_key

        key = load_signing_key(sign_key, password)
    with progress_board(enabled=not as_json and settings.verbosity >= 0 and not dry_run) as board:
        made = create_bundle(
            settings,
            folder,
            k3s_specs,
            kubectl_choice,
            catalog_file=catalog_file,
            dry_run=dry_run,
            progress=board.callback,
            force=force,
            sign_key=key,
            images=images,
        )
    if isinstance(made, BundlePlan):
        plan = made.as_dict()
        emit(
            plan,
            as_json=as_json,
            text=lambda console: _draw_plan(console, plan, folder, urls=settings.verbosity > 0),
        )
        return
    emit(made.as_dict(), as_json=as_json, text=lambda console: _draw_made(console, made))


def _draw_made(console: Console, made: CreatedBundle) -> None:
    """What `bundle create` made: files, versions, images, signature, the next command."""
    from kubeferry.services.inspect import pinned_images

    plan, manifest, folder = made.plan.as_dict(), made.manifest, made.folder
    console.print(
        f"bundle {folder}: {len(manifest.files)} files, "
        f"{human_size(sum(f.size for f in manifest.files))}, verified"
    )
    if plan["k3s"]:
        console.print(
            f"k3s {', '.join(plan['k3s'])} ({', '.join(plan['arches'])}); kubectl "
            f"{', '.join(plan['kubectl']) or 'none'} ({', '.join(plan['os'])})"
        )
    for pin in pinned_images(manifest.targets):
        console.print(
            f"image {pin.reference} -> {pin.digest} ({', '.join(pin.platforms) or 'one manifest'})"
        )
    if made.signature is not None:
        console.print(f"signed: {made.signature.name}")
    if plan["k3s"]:
        console.print(f"on the offline machine: kubeferry bundle install {folder}")
    else:
        console.print(f"on the offline machine: kubeferry mirror serve {folder}")


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
    if rows:
        console.print(table(("FILE", "SIZE", *(["FROM"] if urls else [])), rows))
    for pin in plan.get("images", ()):
        console.print(
            f"image {pin['reference']} -> {pin['digest']} "
            f"({', '.join(pin['platforms']) or 'one manifest'}; {human_size(pin['blobs_size'])})"
        )
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


def _draw_signatures(console: Console, check: SignatureCheck) -> None:
    for line in check.lines():
        console.print(line)


@bundle.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@trust_options
def inspect(folder: Path, as_json: bool, trust: Trust) -> None:
    """What FOLDER holds: k3s versions, kubectl binaries and the k3s minors each covers, sizes,
    what is missing for which OS (from the manifest; no hashing: see 'bundle verify'), and
    which trusted key signed it."""
    from kubeferry.services.inspect import inspect_bundle

    contents = inspect_bundle(folder)
    check = signatures_of(folder, trust)

    def draw(console: Console) -> None:
        _draw_inspect(console, contents)
        _draw_signatures(console, check)

    emit({**contents.as_dict(), "signatures": check.as_dict()}, as_json=as_json, text=draw)


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
    _draw_images(console, contents)
    for gap in contents.missing:
        console.print(f"missing: {gap}")
    for path in contents.absent_on_disk:
        console.print(f"absent on disk: {path} (listed in the manifest)")
    if not contents.missing and not contents.absent_on_disk:
        console.print("nothing missing for the targets it was made for")


def _draw_images(console: Console, contents: BundleContents) -> None:
    from kubeferry.services.inspect import image_summary

    rows = []
    for pin in contents.images:
        shown = image_summary(pin)
        rows.append(
            (
                pin.reference,
                ", ".join(pin.platforms) or "-",
                pin.digest[:19] + "…",
                human_size(pin.blobs_size),
            )
        )
        if shown["left_out"]:
            console.print(
                f"note {pin.reference}: the index keeps upstream's digest {pin.digest}, but "
                f"{', '.join(shown['left_out'])} were left out (a registry push writes a "
                "filtered index, whose digest is not upstream's)"
            )
    if rows:
        console.print(table(("IMAGE", "PLATFORMS", "DIGEST", "SIZE"), rows))


@bundle.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@trust_options
@click.pass_obj
def verify(settings: Settings, folder: Path, as_json: bool, trust: Trust) -> None:
    """Re-hash every file against the manifest and check its signatures; exit 1 while anything
    is wrong (or, with trusted keys configured, while no trusted key signed it)."""
    report = check_bundle(folder, settings)
    check = signatures_of(folder, trust)
    if check.manifest is not None and check.manifest != report.manifest:
        report.bad.append(("kubeferry-bundle.json", "changed while it was being checked"))
    untrusted = check.required and not check.trusted and not trust.allow_unsigned

    def draw(console: Console) -> None:
        _draw_verify(console, folder, report)
        _draw_signatures(console, check)
        if untrusted:
            console.print(f"bundle {folder}: NOT signed by a trusted key")

    data = {**report.as_dict(), "signatures": check.as_dict(), "trusted": not untrusted}
    data["ok"] = data["ok"] and not untrusted
    emit(data, as_json=as_json, text=draw)
    if report.bad or untrusted:
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
@trust_options
@click.pass_obj
def install(
    settings: Settings,
    folder: Path,
    as_json: bool,
    link: bool,
    access: RegistryAccess,
    trust: Trust,
) -> None:
    """Verify FOLDER (or pull the registry reference FOLDER), then place it into the Rancher
    Desktop cache and the kuberlr folder."""
    from kubeferry.services.registry import install_from_registry, is_reference  # only here

    if is_reference(str(folder)):  # HOST[:PORT]/REPO:TAG, not a folder here
        with progress_board(enabled=not as_json and settings.verbosity >= 0) as board:
            result = install_from_registry(
                settings, str(folder), access, link=link, progress=board.callback, trust=trust
            )
    else:
        result = install_into_target(settings, folder, link=link, trust=trust)
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
bundle.add_command(sign_command)  # signing lives in cli/keys.py
