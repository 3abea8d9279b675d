"""The organisation's registry as services: bundles and airgap images go in.

registries.yaml, which points k3s at a mirror, is services/registries.py.

The registry is reached through the same offline gate as every other network use: with
`--offline` (or KUBEFERRY_OFFLINE=1) nothing is sent, not even to a registry inside the gap.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from kubeferry.bundle.install import InstallReport, install_held
from kubeferry.core.image_names import looks_like_host, parse_reference, parse_registry
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.registry.archives import resolve_archives
from kubeferry.registry.bundle_artifact import BundleTransfer, pull_bundle, push_bundle
from kubeferry.registry.images_push import ImagesPush, push_archives
from kubeferry.registry.layout_push import has_images, push_layout
from kubeferry.services.common import local_target
from kubeferry.services.registry_access import RegistryAccess
from kubeferry.settings import Settings
from kubeferry.stores.lock import hold
from kubeferry.verification.keys import Trust

PULL_STAGING: Final = ".kubeferry-pulled-bundles"
"""Under the cache folder: a `bundle install REF` pulls here (kept for resume if it fails)."""


def _no_progress(label: str) -> None:
    return None


def push_bundle_to(
    settings: Settings,
    folder: Path,
    reference: str,
    access: RegistryAccess,
    *,
    mount_from: tuple[str, ...] = (),
    progress: ProgressFactory = _no_progress,
) -> BundleTransfer:
    """Push the verified bundle `folder` to `reference` as one OCI artifact."""
    ref = parse_reference(reference)
    with access.client(ref.registry, settings) as client:
        client.ping()
        return push_bundle(client, folder, ref, mount_from=mount_from, progress=progress)


def pull_bundle_from(
    settings: Settings,
    reference: str,
    folder: Path,
    access: RegistryAccess,
    *,
    progress: ProgressFactory = _no_progress,
    trust: Trust | None = None,
) -> BundleTransfer:
    """Pull `reference` into `folder` (resumable; its signatures checked before any file is
    fetched when trusted keys are configured; verified before it returns).

    The folder's lock is held throughout, as `bundle create` holds it: a second run into the
    same folder waits (saying for whom) instead of sharing its `.part` files.
    """
    ref = parse_reference(reference)
    existed = folder.exists()
    try:
        with (
            access.client(ref.registry, settings) as client,  # the offline gate comes first
            hold(folder, announce=settings.announce, what=f"the bundle {folder}"),
        ):
            return pull_bundle(
                client,
                ref,
                folder,
                progress=progress,
                trust=trust or Trust(environ=settings.environ),
            )
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when the failed pull left it empty
        raise


def is_reference(argument: str) -> bool:
    """True when `argument` is not an existing folder but reads as HOST[:PORT]/REPO[:TAG]."""
    if Path(argument).exists():
        return False
    host, slash, _ = argument.partition("/")
    return bool(slash) and looks_like_host(host)


def install_from_registry(
    settings: Settings,
    reference: str,
    access: RegistryAccess,
    *,
    link: bool = False,
    progress: ProgressFactory = _no_progress,
    trust: Trust | None = None,
) -> InstallReport:
    """Pull `reference` beside the cache, verify, install; the pulled copy is then removed.

    The pulled folder's lock is held from the pull to the removal, so two runs of the same
    reference take turns instead of pulling into, or deleting, each other's files. A failed
    run keeps what it pulled (the next run resumes), but never an empty folder.
    """
    trust = trust or Trust(environ=settings.environ)
    with pulled_bundle(settings, reference, access, progress=progress, trust=trust) as folder:
        target = local_target(settings)
        return install_held(folder, target, announce=settings.announce, link=link, trust=trust)


@contextlib.contextmanager
def pulled_bundle(
    settings: Settings,
    reference: str,
    access: RegistryAccess,
    *,
    progress: ProgressFactory = _no_progress,
    trust: Trust | None = None,
) -> Iterator[Path]:
    """The bundle `reference` pulled (resumable, verified) into a folder beside the cache, for
    `bundle install REF` and `node install REF`; emptied again when the caller is done, its lock
    held throughout. A caller's failure keeps what was pulled, for the resume."""
    trust = trust or Trust(environ=settings.environ)
    folder = settings.cache_dir / PULL_STAGING / re.sub(r"[^A-Za-z0-9._-]+", "_", reference)
    try:
        with hold(folder, announce=settings.announce, what=f"the pulled bundle {folder}") as lock:
            ref = parse_reference(reference)
            with access.client(ref.registry, settings) as client:
                pull_bundle(client, ref, folder, progress=progress, trust=trust)
            yield folder
            for item in folder.iterdir():  # all but the lock file, which goes with the lock
                if item != lock:
                    shutil.rmtree(item) if item.is_dir() else item.unlink()
    finally:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def push_images(
    settings: Settings,
    sources: tuple[str, ...],
    registry: str,
    access: RegistryAccess,
    *,
    workers: int = 4,
    progress: ProgressFactory = _no_progress,
) -> list[ImagesPush]:
    """Every image of the airgap archives, and of the bundles' `images/` layouts, into
    `registry`, repository paths kept."""
    host, prefix = parse_registry(registry)
    archives = resolve_archives(sources, settings.cache_dir, settings.arches)
    layouts = [Path(s) for s in sources if Path(s).is_dir() and has_images(Path(s))]
    with access.client(host, settings) as client:
        client.ping()
        reports = push_archives(
            client, archives, prefix=prefix, progress=progress, workers=max(1, workers)
        )
        for folder in layouts:
            with hold(
                folder, announce=settings.announce, what=f"the bundle {folder}", optional=True
            ):
                reports.append(push_layout(client, folder, prefix=prefix, progress=progress))
        return reports
