"""`bundle create|verify|install` as services over bundle/ and targets/."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeferry import __version__
from kubeferry.bundle.create import (
    endpoints_note,
    fill_bundle,
    kubectl_versions,
    plan_bundle,
    write_bundle_catalog,
    write_manifest,
)
from kubeferry.bundle.images import ImagePin
from kubeferry.bundle.install import InstallReport, install_bundle
from kubeferry.bundle.manifest import Manifest, build_manifest
from kubeferry.bundle.plan import PlannedFile, total_size
from kubeferry.catalog.file import read_catalog
from kubeferry.catalog.rules import Catalog, resolve_k3s_spec
from kubeferry.core.versions import K3sTag, KubeVersion
from kubeferry.download.engine import ProgressFactory
from kubeferry.errors import UsageError
from kubeferry.services.bundle_images import ImageRequest, collect_into_bundle, plan_images
from kubeferry.services.catalog import fetch_upstream_catalog
from kubeferry.services.common import local_target, network
from kubeferry.settings import Settings
from kubeferry.stores.lock import hold, hold_all
from kubeferry.verification.bundle import VerifyReport, verify_bundle


def _no_progress(label: str) -> None:
    return None


@dataclass(frozen=True)
class BundlePlan:
    """What a bundle will carry, with sizes."""

    tags: tuple[K3sTag, ...]
    arches: tuple[str, ...]
    oses: tuple[str, ...]
    kubectls: tuple[KubeVersion, ...]
    files: tuple[PlannedFile, ...]
    images: tuple[ImagePin, ...] = ()  # --dry-run only: the bundle manifest records them

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`bundle create --dry-run --json`)."""
        known, unknown = total_size(self.files)
        images = {"images": [pin.as_dict() for pin in self.images]} if self.images else {}
        return {
            **images,
            "k3s": [str(t) for t in self.tags],
            "arches": list(self.arches),
            "os": list(self.oses),
            "kubectl": [v.short for v in self.kubectls],
            "total_bytes": known,
            "unknown_sizes": unknown,
            "files": [{"path": f.path, "size": f.size, "url": f.url} for f in self.files],
        }


@dataclass(frozen=True)
class CreatedBundle:
    """A bundle that was filled and verified."""

    folder: Path
    plan: BundlePlan
    manifest: Manifest
    manifest_path: Path

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`bundle create --json`)."""
        return {
            **self.plan.as_dict(),
            "manifest": str(self.manifest_path),
            "files": len(self.manifest.files),
        }


def _catalog(settings: Settings, catalog_file: Path | None) -> Catalog:
    if catalog_file is not None:
        return read_catalog(catalog_file)
    return fetch_upstream_catalog(settings)


def create_bundle(
    settings: Settings,
    folder: Path,
    k3s_specs: tuple[str, ...],
    kubectl_choice: tuple[str, ...],
    *,
    catalog_file: Path | None = None,
    dry_run: bool = False,
    progress: ProgressFactory = _no_progress,
    images: ImageRequest | None = None,
) -> BundlePlan | CreatedBundle:
    """Plan (HEAD requests) and, unless `dry_run`, fill `folder` and write catalog + manifest.

    `--k3s none` makes a bundle of workload images only (no catalog, k3s or kubectl)."""
    images = images or ImageRequest()
    no_k3s = k3s_specs == ("none",)
    if no_k3s and not images.references and images.images_file is None:
        raise UsageError("--k3s none makes a bundle of images only: give --image or --images-file.")
    catalog = None if no_k3s else _catalog(settings, catalog_file)
    tags = (
        []
        if catalog is None
        else list(dict.fromkeys(resolve_k3s_spec(catalog, s) for s in k3s_specs))
    )
    endpoints = settings.endpoints
    with network(settings, endpoints.k3s_download_url) as client:
        kubectls = kubectl_versions(client, endpoints, kubectl_choice, tags) if tags else []
        files = plan_bundle(
            client, endpoints, tags, kubectls, arches=settings.arches, oses=settings.target_oses
        )
        plan = BundlePlan(
            tuple(tags), settings.arches, settings.target_oses, tuple(kubectls), tuple(files)
        )
        if dry_run:
            return replace(plan, images=tuple(plan_images(settings, images)))
        with hold(folder, announce=settings.announce, what=f"the bundle {folder}"):
            entries = fill_bundle(
                client,
                endpoints,
                folder,
                files,
                progress=progress,
                connections=settings.connections,
            )
            pins, image_files = collect_into_bundle(settings, folder, images, progress=progress)
            entries += image_files
            if catalog is not None:
                entries.append(write_bundle_catalog(folder, catalog, tags))
            summary = plan.as_dict()
            keys = ("k3s", "arches", "os", "kubectl")
            targets: dict[str, Any] = {key: summary[key] for key in keys}
            targets["sources"] = endpoints_note(endpoints)
            if pins:
                targets["images"] = [pin.as_dict() for pin in pins]
            created = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            manifest = build_manifest(created, f"kubeferry {__version__}", targets, entries)
            return CreatedBundle(folder, plan, manifest, write_manifest(folder, manifest))


def check_bundle(folder: Path, settings: Settings | None = None) -> VerifyReport:
    """Re-hash every file of the bundle against its manifest (after a run filling it ended)."""
    announce = settings.announce if settings else None
    if not folder.is_dir():
        return verify_bundle(folder)  # the error names the missing manifest
    with hold(folder, announce=announce, what=f"the bundle {folder}", optional=True):
        return verify_bundle(folder)


def install_into_target(settings: Settings, folder: Path, *, link: bool = False) -> InstallReport:
    """Verify `folder` and place it into the target's cache and kuberlr folders.

    Locks, always in this order: the bundle (when it can hold a lock file: it may be on
    read-only media), the cache, each kuberlr folder.
    """
    target = local_target(settings)
    if not folder.is_dir():
        return install_bundle(folder, target, link=link)  # the error names the missing manifest
    with hold(folder, announce=settings.announce, what=f"the bundle {folder}", optional=True):
        return install_held_bundle(settings, folder, link=link)


def install_held_bundle(settings: Settings, folder: Path, *, link: bool = False) -> InstallReport:
    """`install_into_target` for a caller that already holds the bundle's lock."""
    target = local_target(settings)
    folders = [(target.cache_dir, f"the cache {target.cache_dir}")]
    folders += [(settings.kuberlr_dir(arch), "the kuberlr folder") for arch in settings.arches]
    verified = verify_bundle(folder)
    verified.require_ok()  # before any lock creates a folder in the target
    with hold_all(folders, announce=settings.announce):
        return install_bundle(folder, target, link=link, verified=verified)
