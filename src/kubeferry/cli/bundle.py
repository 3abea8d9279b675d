"""`kubeferry bundle create|verify|install`: the source disk for an offline machine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

from kubeferry import __version__, http
from kubeferry.bundle import (
    VerifyReport,
    endpoints_note,
    fill_bundle,
    install_bundle,
    verify_bundle,
    write_bundle_catalog,
    write_manifest,
)
from kubeferry.bundle_plan import (
    KUBECTL_MODES,
    PlannedFile,
    k3s_files,
    kubectl_file,
    kubectl_minors,
    total_size,
)
from kubeferry.catalog import Catalog, read_catalog, resolve_k3s_spec
from kubeferry.cli import bundle_oci
from kubeferry.cli.catalog import fetch_upstream_catalog
from kubeferry.cli.options import Settings
from kubeferry.cli.progress import progress_board
from kubeferry.cli.registry_options import RegistryAccess, registry_options
from kubeferry.cli.render import CommandFailed, emit, human_size, table
from kubeferry.download import first_available, run_parallel
from kubeferry.errors import KubeferryError
from kubeferry.kubectls import resolve_kubectl_version
from kubeferry.manifest import build_manifest
from kubeferry.platforms import K3sAssets
from kubeferry.versions import K3sTag, KubeVersion

if TYPE_CHECKING:
    from rich.console import Console


@click.group()
def bundle() -> None:
    """Bundles: everything an offline machine needs, verified, in one folder."""


def _kubectl_versions(
    client: httpx.Client, settings: Settings, choice: tuple[str, ...], tags: list[K3sTag]
) -> list[KubeVersion]:
    if len(choice) == 1 and choice[0] in KUBECTL_MODES:
        specs = [f"{major}.{minor}" for major, minor in kubectl_minors(choice[0], tags)]
    else:
        specs = list(choice)
    resolved = run_parallel(
        [lambda s=s: resolve_kubectl_version(client, settings.endpoints, s) for s in specs]
    )
    return list(dict.fromkeys(resolved))


def _sized(client: httpx.Client, item: PlannedFile) -> PlannedFile:
    return replace(item, size=http.head_size(client, item.url))


def _k3s_plan(
    client: httpx.Client, settings: Settings, tag: K3sTag, arch: str
) -> list[PlannedFile]:
    """The files of one tag and arch, with `.tar.zst` images when the release has them."""

    def images_plan(images: str) -> list[PlannedFile]:
        *others, archive = k3s_files(settings.endpoints, tag, arch, images)
        sized = _sized(client, archive)  # the one that may be absent: asked first
        return [*(_sized(client, item) for item in others), sized]

    return first_available(K3sAssets(arch).images, images_plan)


def plan_bundle(
    client: httpx.Client, settings: Settings, tags: list[K3sTag], kubectl_choice: tuple[str, ...]
) -> tuple[list[PlannedFile], list[KubeVersion]]:
    """Every file with its URL and size (HEAD requests; nothing is downloaded)."""
    kubectls = _kubectl_versions(client, settings, kubectl_choice, tags)
    tasks = [
        lambda t=t, a=a: _k3s_plan(client, settings, t, a) for t in tags for a in settings.arches
    ]
    tasks += [
        lambda v=v, o=o, a=a: [_sized(client, kubectl_file(settings.endpoints, v, o, a))]
        for v in kubectls
        for o in settings.target_oses
        for a in settings.arches
    ]
    groups = run_parallel(tasks, workers=6)
    return [item for group in groups for item in group], kubectls


def _catalog(settings: Settings, catalog_file: Path | None) -> Catalog:
    if catalog_file is not None:
        return read_catalog(catalog_file)
    return fetch_upstream_catalog(settings)


def _plan_dict(
    files: list[PlannedFile], tags: list[K3sTag], kubectls: list[KubeVersion], settings: Settings
) -> dict[str, Any]:
    known, unknown = total_size(files)
    return {
        "k3s": [str(t) for t in tags],
        "arches": list(settings.arches),
        "os": list(settings.target_oses),
        "kubectl": [v.short for v in kubectls],
        "total_bytes": known,
        "unknown_sizes": unknown,
        "files": [{"path": f.path, "size": f.size, "url": f.url} for f in files],
    }


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
@click.pass_obj
def create(
    settings: Settings,
    folder: Path,
    k3s_specs: tuple[str, ...],
    kubectl_choice: tuple[str, ...],
    catalog_file: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Fill FOLDER with k3s versions, kubectl binaries, a catalog and a manifest."""
    catalog = _catalog(settings, catalog_file)
    tags = list(dict.fromkeys(resolve_k3s_spec(catalog, s) for s in k3s_specs))
    http.ensure_online(settings.offline, settings.endpoints.k3s_download_url)
    with http.open_client() as client:
        files, kubectls = plan_bundle(client, settings, tags, kubectl_choice)
        plan = _plan_dict(files, tags, kubectls, settings)
        if dry_run:
            emit(
                plan,
                as_json=as_json,
                text=lambda console: _draw_plan(console, plan, folder, urls=settings.verbosity > 0),
            )
            return
        folder.mkdir(parents=True, exist_ok=True)
        with progress_board(enabled=not as_json and settings.verbosity >= 0) as board:
            entries = fill_bundle(client, folder, files, progress=board.callback)
    entries.append(write_bundle_catalog(folder, catalog, tags))
    targets = {key: plan[key] for key in ("k3s", "arches", "os", "kubectl")}
    targets["sources"] = endpoints_note(settings.endpoints)
    created = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = build_manifest(created, f"kubeferry {__version__}", targets, entries)
    path = write_manifest(folder, manifest)
    data = {**plan, "manifest": str(path), "files": len(manifest.files)}

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

    emit(data, as_json=as_json, text=draw)


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


def _report_dict(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": not report.bad,
        "verified": len(report.ok),
        "bad": [{"path": p, "problem": why} for p, why in report.bad],
        "unlisted": report.extra,
    }


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
def verify(folder: Path, as_json: bool) -> None:
    """Re-hash every file against the manifest; exit 1 while anything is wrong."""
    report = verify_bundle(folder)
    emit(
        _report_dict(report),
        as_json=as_json,
        text=lambda console: _draw_verify(console, folder, report),
    )
    if report.bad:
        raise CommandFailed(1)


@bundle.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
@click.pass_obj
def install(settings: Settings, folder: Path, as_json: bool, access: RegistryAccess) -> None:
    """Verify FOLDER (or pull the registry reference FOLDER), then place it into the Rancher
    Desktop cache and the kuberlr folder."""
    pulled = bundle_oci.is_reference(str(folder))  # HOST[:PORT]/REPO:TAG, not a folder here
    if pulled:
        folder = bundle_oci.staged_bundle(settings, str(folder), access, show=not as_json)
    report = verify_bundle(folder)
    if report.bad:
        listing = "; ".join(f"{path}: {why}" for path, why in report.bad)
        raise KubeferryError(
            f"bundle {folder} failed verification, so nothing was placed: {listing}. Copy the "
            "bundle again from the connected machine (or rerun 'kubeferry bundle create' there)."
        )
    kubectl_dirs = {f"{settings.target_os}-{arch}" for arch in settings.arches}
    result = install_bundle(
        folder, report, cache_dir=settings.cache_dir, home=settings.home, kubectl_dirs=kubectl_dirs
    )
    data = {
        "cache_dir": str(settings.cache_dir),
        "home": str(settings.home),
        "placed": result.placed,
        "already_present": result.present,
        "skipped": [{"path": p, "why": w} for p, w in result.skipped],
        "catalog_changed": result.catalog_changed,
        "unreadable_catalog_kept_as": str(result.unreadable_catalog or "") or None,
    }
    if pulled:
        bundle_oci.discard_staged(folder)

    def draw(console: Console) -> None:
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
                f"than {', '.join(sorted(kubectl_dirs))} and were left in the bundle"
            )
        console.print(f"cache {settings.cache_dir}; kubectl {settings.home / '.kuberlr'}")

    emit(data, as_json=as_json, text=draw)


bundle.add_command(bundle_oci.push)  # registry commands live in cli/bundle_oci.py
bundle.add_command(bundle_oci.pull)
