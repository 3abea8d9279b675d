"""`bundle create|verify|install` as services over bundle/ and targets/."""

from __future__ import annotations

from dataclasses import dataclass
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
from kubeferry.bundle.install import InstallReport, install_bundle, install_held
from kubeferry.bundle.manifest import Manifest, build_manifest
from kubeferry.bundle.plan import PlannedFile, total_size
from kubeferry.catalog.file import read_catalog
from kubeferry.catalog.rules import Catalog, resolve_k3s_spec
from kubeferry.catalog.upstream import fetch_catalog
from kubeferry.core.versions import DEFAULT_MINIMUM_VERSION, K3sTag, KubeVersion
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.services.common import local_target, network
from kubeferry.settings import Settings
from kubeferry.stores.lock import hold
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

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`bundle create --dry-run --json`)."""
        known, unknown = total_size(self.files)
        return {
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
    endpoints = settings.endpoints
    with network(settings, endpoints.channels_url) as client:
        return fetch_catalog(client, endpoints, DEFAULT_MINIMUM_VERSION)


def create_bundle(
    settings: Settings,
    folder: Path,
    k3s_specs: tuple[str, ...],
    kubectl_choice: tuple[str, ...],
    *,
    catalog_file: Path | None = None,
    dry_run: bool = False,
    progress: ProgressFactory = _no_progress,
) -> BundlePlan | CreatedBundle:
    """Plan (HEAD requests) and, unless `dry_run`, fill `folder` and write catalog + manifest."""
    catalog = _catalog(settings, catalog_file)
    tags = list(dict.fromkeys(resolve_k3s_spec(catalog, s) for s in k3s_specs))
    endpoints = settings.endpoints
    with network(settings, endpoints.k3s_download_url) as client:
        kubectls = kubectl_versions(client, endpoints, kubectl_choice, tags)
        files = plan_bundle(
            client, endpoints, tags, kubectls, arches=settings.arches, oses=settings.target_oses
        )
        plan = BundlePlan(
            tuple(tags), settings.arches, settings.target_oses, tuple(kubectls), tuple(files)
        )
        if dry_run:
            return plan
        with hold(folder, announce=settings.announce, what=f"the bundle {folder}"):
            entries = fill_bundle(
                client,
                endpoints,
                folder,
                files,
                progress=progress,
                connections=settings.connections,
            )
            entries.append(write_bundle_catalog(folder, catalog, tags))
            summary = plan.as_dict()
            keys = ("k3s", "arches", "os", "kubectl")
            targets: dict[str, Any] = {key: summary[key] for key in keys}
            targets["sources"] = endpoints_note(endpoints)
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
        return install_held(folder, target, announce=settings.announce, link=link)
