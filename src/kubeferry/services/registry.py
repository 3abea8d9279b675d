"""The organisation's registry as services: bundles and airgap images in, registries.yaml out.

The registry is reached through the same offline gate as every other network use: with
`--offline` (or KUBEFERRY_OFFLINE=1) nothing is sent, not even to a registry inside the gap.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubeferry.bundle.install import InstallReport
from kubeferry.core.image_names import looks_like_host, parse_reference, parse_registry
from kubeferry.core.layouts import K3S_REGISTRIES_PATH, k3s_root
from kubeferry.core.platforms import K3sAssets
from kubeferry.download.engine import ProgressFactory
from kubeferry.errors import NotFoundError, UsageError
from kubeferry.oci.auth import Credentials, docker_config_credentials, docker_config_path
from kubeferry.oci.client import RegistryClient
from kubeferry.registry.bundle_artifact import BundleTransfer, pull_bundle, push_bundle
from kubeferry.registry.images_push import ImagesPush, push_archives
from kubeferry.registry.layout_push import has_images, push_layout
from kubeferry.registry.registries_yaml import MirrorSettings, build_registries
from kubeferry.services.bundle import install_held_bundle
from kubeferry.settings import Settings
from kubeferry.stores.lock import hold
from kubeferry.targets.registries import (
    WrittenFile,
    rancher_desktop_file,
    write_registries,
)
from kubeferry.transport import http

PULL_STAGING: Final = ".kubeferry-pulled-bundles"
"""Under the cache folder: a `bundle install REF` pulls here (kept for resume if it fails)."""


def _no_progress(label: str) -> None:
    return None


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach and log in to a registry, as the options said."""

    username: str | None = None
    password: str | None = None
    plain_http: bool = False

    def credentials(self, registry: str, settings: Settings) -> Credentials | None:
        """--username/--password-stdin, else Docker's config.json `auths`, else anonymous."""
        if self.username is not None:
            return Credentials(self.username, self.password or "", source="--username")
        home = Path(settings.environ.get("HOME") or settings.home)
        return docker_config_credentials(registry, docker_config_path(settings.environ, home))

    def client(self, registry: str, settings: Settings) -> RegistryClient:
        """A client for `registry` (the offline gate first)."""
        scheme = "http" if self.plain_http else "https"
        http.ensure_online(settings.offline, f"{scheme}://{registry}/v2/")
        return RegistryClient(
            registry, credentials=self.credentials(registry, settings), plain_http=self.plain_http
        )


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
) -> BundleTransfer:
    """Pull `reference` into `folder` (resumable; verified before it returns)."""
    ref = parse_reference(reference)
    with access.client(ref.registry, settings) as client:
        return pull_bundle(client, ref, folder, progress=progress)


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
) -> InstallReport:
    """Pull `reference` beside the cache, verify, install; the pulled copy is then removed.

    The pulled folder's lock is held from the pull to the removal, so two runs of the same
    reference take turns instead of pulling into, or deleting, each other's files.
    """
    folder = settings.cache_dir / PULL_STAGING / re.sub(r"[^A-Za-z0-9._-]+", "_", reference)
    with hold(folder, announce=settings.announce, what=f"the pulled bundle {folder}") as lock:
        ref = parse_reference(reference)
        with access.client(ref.registry, settings) as client:
            pull_bundle(client, ref, folder, progress=progress)
        result = install_held_bundle(settings, folder, link=link)
        for item in folder.iterdir():  # all but the lock file, which goes with the lock
            if item != lock:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
    return result


def _in_folder(folder: Path) -> list[Path]:
    """A bundle's (or cache's) `k3s/*/k3s-airgap-images-*`: one archive per tag and arch."""
    chosen: dict[tuple[Path, str], Path] = {}
    for path in sorted(folder.glob("k3s/*/k3s-airgap-images-*")):
        if path.is_symlink() or not path.is_file() or not path.name.endswith((".tar", ".tar.zst")):
            continue
        stem = path.name.removesuffix(".zst").removesuffix(".tar")
        # .tar and .tar.zst hold the same images; the .tar is read with seeks, in parallel
        if (path.parent, stem) not in chosen or path.name.endswith(".tar"):
            chosen[(path.parent, stem)] = path
    return list(chosen.values())


def _cached(settings: Settings, tag: str) -> list[Path]:
    root = k3s_root(settings.cache_dir)
    folder = root / tag
    if not folder.is_dir() and not tag.startswith("v"):
        folder = root / f"v{tag}"
    found = []
    for arch in settings.arches:
        for name in reversed(K3sAssets(arch).images):  # .tar first, then .tar.zst
            if (folder / name).is_file():
                found.append(folder / name)
                break
    if not found:
        cached = sorted(p.name for p in root.glob("*") if p.is_dir())
        raise NotFoundError(
            f"{tag!r} is not a file, a folder, or a k3s version with an images archive for "
            f"{', '.join(settings.arches)} in {root} (cached: {', '.join(cached) or 'none'}). "
            "Give an archive or a bundle folder, or fill the cache first ('kubeferry cache add').",
            path=folder,
        )
    return found


def resolve_archives(settings: Settings, sources: tuple[str, ...]) -> list[Path]:
    """TAG (cached version), DIR (bundle folder) or FILE (an archive) -> archives."""
    archives: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_file():
            archives.append(path)
        elif path.is_dir():
            found = _in_folder(path)
            if not found and not has_images(path):
                raise NotFoundError(
                    f"{path} holds no k3s/<tag>/k3s-airgap-images-* archive. Give a bundle "
                    "folder, an archive file, or a cached k3s version.",
                    path=path,
                )
            archives += found
        else:
            archives += _cached(settings, source)
    return list(dict.fromkeys(archives))


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
    archives = resolve_archives(settings, sources)
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


def registries_target(settings: Settings, target: str, root: Path) -> tuple[Path, str]:
    """(path, kind) for `--for k3s|rancher-desktop|FILE`."""
    if target == "k3s":
        return root / K3S_REGISTRIES_PATH, "registries.yaml"
    if target == "rancher-desktop":
        return rancher_desktop_file(settings.target_os, settings.home, settings.environ)
    return Path(target), "registries.yaml"


def write_registries_for(
    settings: Settings,
    mirror: MirrorSettings,
    target: str,
    root: Path,
    hosts_dir: Path | None = None,
) -> WrittenFile:
    """Build, validate and write the registries configuration for `target`, merged; for
    `containerd`, one `hosts.toml` per registry under `hosts_dir`."""
    if target == "containerd":
        if hosts_dir is None:
            raise UsageError("--for containerd needs the folder to write: --for containerd DIR.")
        return write_hosts_dir(mirror, hosts_dir)
    path, kind = registries_target(settings, target, root)
    return write_registries(build_registries(mirror), path, kind)


def write_hosts_dir(mirror: MirrorSettings, folder: Path) -> WrittenFile:
    """`DIR/<registry>/hosts.toml` for each mirrored registry (containerd's config_path)."""
    from kubeferry.files.safe import inside, write_text_atomically
    from kubeferry.registry.hosts_toml import hosts_toml

    build_registries(mirror)  # the same checks of --mirror and --registry
    for registry in dict.fromkeys(mirror.registries):
        if not looks_like_host(registry):
            raise UsageError(f"--registry {registry!r} is not a registry host.")
        path = inside(folder, (registry, "hosts.toml"))
        write_text_atomically(path, hosts_toml(mirror, registry))
    return WrittenFile(folder, "containerd-hosts", tuple(dict.fromkeys(mirror.registries)))
