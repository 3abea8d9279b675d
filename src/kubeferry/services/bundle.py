"""`bundle create|verify|install` as services over bundle/ and targets/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from kubeferry.bundle.install import InstallReport, install_bundle, install_held
from kubeferry.bundle.manifest import Manifest, build_manifest
from kubeferry.bundle.plan import PlannedFile, total_size
from kubeferry.catalog.file import read_catalog
from kubeferry.catalog.rules import Catalog, resolve_k3s_spec
from kubeferry.catalog.upstream import fetch_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME, IMAGES_FOLDER, LOCK_NAME, MANIFEST_NAME
from kubeferry.core.versions import DEFAULT_MINIMUM_VERSION, K3sTag, KubeVersion
from kubeferry.errors import BundleError, UsageError
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.services.bundle_images import ImageRequest, collect_into_bundle, plan_images
from kubeferry.services.common import local_target, network
from kubeferry.settings import Settings
from kubeferry.stores.lock import hold
from kubeferry.verification.bundle import VerifyReport, verify_bundle
from kubeferry.verification.keys import Trust
from kubeferry.verification.trust import is_signature_name

if TYPE_CHECKING:
    from kubeferry.verification.signatures import PrivateKey


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
    signature: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`bundle create --json`)."""
        return {
            **self.plan.as_dict(),
            "manifest": str(self.manifest_path),
            "files": len(self.manifest.files),
            "signature": str(self.signature) if self.signature else None,
        }


def _catalog(settings: Settings, catalog_file: Path | None) -> Catalog:
    if catalog_file is not None:
        return read_catalog(catalog_file)
    endpoints = settings.endpoints
    with network(settings, endpoints.channels_url) as client:
        return fetch_catalog(client, endpoints, DEFAULT_MINIMUM_VERSION)


_BUNDLE_TOP: frozenset[str] = frozenset(
    {"k3s", "kuberlr", IMAGES_FOLDER, MANIFEST_NAME, CATALOG_FILE_NAME, LOCK_NAME}
)


def refuse_unrelated(folder: Path, force: bool) -> None:
    """BundleError when `folder` holds files no bundle run made (unless `force`): they would
    sit in the bundle unlisted and travel with it."""
    if force or not folder.is_dir():
        return
    unrelated = sorted(
        p.name
        for p in folder.iterdir()
        if p.name not in _BUNDLE_TOP
        and not is_signature_name(p.name)
        and not (p.name.startswith(".") and p.name.endswith(".tmp"))
    )
    if unrelated:
        shown = ", ".join(unrelated[:5]) + (" ..." if len(unrelated) > 5 else "")
        raise BundleError(
            f"{folder} is not empty and holds files that are not part of a bundle ({shown}); "
            "they would travel with it unlisted. Choose an empty or new folder, or pass --force "
            "to make the bundle there anyway.",
            path=folder,
        )


def _k3s_choice(
    settings: Settings,
    k3s_specs: tuple[str, ...],
    catalog_file: Path | None,
    images: ImageRequest,
) -> tuple[Catalog | None, list[K3sTag]]:
    """The catalog and the k3s tags asked for; `--k3s none` (images only): neither."""
    if k3s_specs == ("none",):
        if not images.references and images.images_file is None:
            raise UsageError(
                "--k3s none makes a bundle of images only: give --image or --images-file."
            )
        return None, []
    catalog = _catalog(settings, catalog_file)
    return catalog, list(dict.fromkeys(resolve_k3s_spec(catalog, s) for s in k3s_specs))


def _targets(plan: BundlePlan, sources: Any, pins: Sequence[ImagePin]) -> dict[str, Any]:
    """What the bundle was made for (the manifest's `targets`), images pinned included."""
    summary = plan.as_dict()
    targets: dict[str, Any] = {key: summary[key] for key in ("k3s", "arches", "os", "kubectl")}
    targets["sources"] = sources
    if pins:
        targets["images"] = [pin.as_dict() for pin in pins]
    return targets


def create_bundle(
    settings: Settings,
    folder: Path,
    k3s_specs: tuple[str, ...],
    kubectl_choice: tuple[str, ...],
    *,
    catalog_file: Path | None = None,
    dry_run: bool = False,
    progress: ProgressFactory = _no_progress,
    force: bool = False,
    sign_key: PrivateKey | None = None,
    images: ImageRequest | None = None,
) -> BundlePlan | CreatedBundle:
    """Plan (HEAD requests) and, unless `dry_run`, fill `folder` and write catalog + manifest
    (then sign it with `sign_key`, the lock still held).

    `--k3s none` makes a bundle of workload images only (no catalog, k3s or kubectl)."""
    if not dry_run:
        refuse_unrelated(folder, force)
    images = images or ImageRequest()
    catalog, tags = _k3s_choice(settings, k3s_specs, catalog_file, images)
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
            targets = _targets(plan, endpoints_note(endpoints), pins)
            created = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            manifest = build_manifest(created, f"kubeferry {__version__}", targets, entries)
            written = write_manifest(folder, manifest)
            signature = None
            if sign_key is not None:
                from kubeferry.bundle.sign import sign_held_bundle

                signature = sign_held_bundle(folder, sign_key, expected=manifest).signature
            return CreatedBundle(folder, plan, manifest, written, signature)


def check_bundle(folder: Path, settings: Settings | None = None) -> VerifyReport:
    """Re-hash every file of the bundle against its manifest (after a run filling it ended)."""
    announce = settings.announce if settings else None
    if not folder.is_dir():
        return verify_bundle(folder)  # the error names the missing manifest
    with hold(folder, announce=announce, what=f"the bundle {folder}", optional=True):
        return verify_bundle(folder)


def install_into_target(
    settings: Settings, folder: Path, *, link: bool = False, trust: Trust | None = None
) -> InstallReport:
    """Verify `folder` (its signature first, when trusted keys are configured) and place it
    into the target's cache and kuberlr folders.

    Locks, always in this order: the bundle (when it can hold a lock file: it may be on
    read-only media), the cache, each kuberlr folder.
    """
    target = local_target(settings)
    if not folder.is_dir():
        return install_bundle(folder, target, link=link)  # the error names the missing manifest
    with hold(folder, announce=settings.announce, what=f"the bundle {folder}", optional=True):
        return install_held(
            folder,
            target,
            announce=settings.announce,
            link=link,
            trust=trust or Trust(environ=settings.environ),
        )
