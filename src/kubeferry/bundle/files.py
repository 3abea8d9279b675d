"""Bundles on disk: fill one from the network, verify one, install one into a cache and home.

`create` fetches into the bundle folder with the download engine (resumable; files already
there and verified are kept), writes the catalog, and writes the manifest last, from the digests
the downloads computed. `verify` re-hashes against the manifest. `install` verifies first and
places nothing from a bundle that fails; each file lands atomically.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kubeferry.bundle.manifest import Manifest, ManifestFile, classify, parse_manifest
from kubeferry.bundle.plan import PlannedFile
from kubeferry.catalog.rules import (
    Catalog,
    build_catalog,
    catalog_to_json,
    merge_into_file,
    read_catalog,
)
from kubeferry.core.endpoints import Endpoints
from kubeferry.core.layouts import CATALOG_FILE_NAME, MANIFEST_NAME
from kubeferry.core.platforms import ARCHITECTURES, K3sAssets
from kubeferry.core.textfiles import read_text, write_text_atomically
from kubeferry.core.versions import K3sTag
from kubeferry.errors import KubeferryError, UnsafePathError
from kubeferry.net.download import (
    DownloadJob,
    DownloadResult,
    Progress,
    ProgressFactory,
    download,
    run_parallel,
)
from kubeferry.net.hashes import parse_sums, sha256_file
from kubeferry.stores.cache import cached_folder_tags
from kubeferry.stores.kubectls import expected_digest

K3S_BINARIES = frozenset(K3sAssets(arch).binary for arch in ARCHITECTURES)

# -- create -----------------------------------------------------------------------------------


def _fetch(
    client: httpx.Client,
    folder: Path,
    item: PlannedFile,
    digests: dict[str, str],
    progress: Progress | None,
) -> DownloadResult:
    job = DownloadJob(item.url, folder / item.path, size=item.size, **digests)
    result = download(client, job, progress=progress, keep_existing=bool(digests))
    if item.kind in ("k3s-binary", "kubectl"):
        job.destination.chmod(0o755)
    return result


def fill_bundle(
    client: httpx.Client,
    folder: Path,
    files: list[PlannedFile],
    *,
    progress: ProgressFactory = lambda label: None,
    workers: int = 4,
) -> list[ManifestFile]:
    """Download every planned file into `folder`, verified; sums files first."""
    sums = [f for f in files if f.kind == "k3s-sums"]
    sums_results = run_parallel(
        [lambda f=f: _fetch(client, folder, f, {}, progress(f.path)) for f in sums], workers=workers
    )
    digests: dict[str, str] = {}
    for item in sums:
        listed = parse_sums((folder / item.path).read_text(encoding="utf-8"), source=item.url)
        for name, digest in listed.items():
            digests[f"k3s/{item.tag}/{name}"] = digest

    def task(item: PlannedFile) -> DownloadResult:
        if item.kind == "kubectl":
            algorithm, digest = expected_digest(client, item.url)
            return _fetch(client, folder, item, {algorithm: digest}, progress(item.path))
        if item.path not in digests:
            raise KubeferryError(
                f"the sums file of {item.tag} does not list {Path(item.path).name}, so it "
                "cannot be verified; choose another version or a mirror with a complete release."
            )
        return _fetch(client, folder, item, {"sha256": digests[item.path]}, progress(item.path))

    others = [f for f in files if f.kind != "k3s-sums"]
    results = sums_results + run_parallel([lambda f=f: task(f) for f in others], workers=workers)
    planned = {f.path: f for f in files}
    return [
        ManifestFile(path, r.size, r.sha256, planned[path].url)
        for path, r in ((r.job.destination.relative_to(folder).as_posix(), r) for r in results)
    ]


def write_bundle_catalog(folder: Path, catalog: Catalog, tags: list[K3sTag]) -> ManifestFile:
    """The catalog with every bundled tag listed (channels kept), written into the bundle."""
    covering = build_catalog(catalog.channels, catalog.versions, prefer=tags)
    path = folder / CATALOG_FILE_NAME
    write_text_atomically(path, catalog_to_json(covering))
    return ManifestFile(CATALOG_FILE_NAME, path.stat().st_size, sha256_file(path), "")


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """The manifest, last, atomically."""
    path = folder / MANIFEST_NAME
    write_text_atomically(path, manifest.to_json())
    return path


# -- verify -----------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What `verify` found."""

    manifest: Manifest
    ok: list[str] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


def read_manifest(folder: Path) -> Manifest:
    """The bundle's manifest; a clear error when it is missing or broken."""
    path = folder / MANIFEST_NAME
    text = read_text(
        path,
        missing=f"{folder} is not a kubeferry bundle (or its creation did not finish; run "
        "'kubeferry bundle create' again).",
    )
    return parse_manifest(text, source=str(path))


def _inside(folder: Path, parts: tuple[str, ...]) -> Path:
    """`folder/parts`, refusing any link on the way (a link could point anywhere)."""
    current = folder
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePathError(
                f"{current} is a symbolic link; a bundle holds plain files only. The bundle was "
                "refused and nothing was placed.",
                path=current,
            )
    return current


def verify_bundle(folder: Path) -> VerifyReport:
    """Re-hash every manifest file; list missing, wrong and unlisted files."""
    manifest = read_manifest(folder)
    report = VerifyReport(manifest)
    for entry in manifest.files:
        _, parts = classify(entry.path, source=str(folder / MANIFEST_NAME))
        path = _inside(folder, parts)
        if not path.is_file():
            report.bad.append((entry.path, "missing"))
        elif path.stat().st_size != entry.size:
            report.bad.append((entry.path, f"size {path.stat().st_size}, expected {entry.size}"))
        elif (actual := sha256_file(path)) != entry.sha256:
            report.bad.append((entry.path, f"sha256 {actual}, expected {entry.sha256}"))
        else:
            report.ok.append(entry.path)
    listed = {entry.path for entry in manifest.files} | {MANIFEST_NAME}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if (path.is_file() or path.is_symlink()) and relative not in listed:
            report.extra.append(relative)
    return report


# -- install ----------------------------------------------------------------------------------


@dataclass
class InstallReport:
    """What `install` did, file by file."""

    placed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    catalog_changed: bool = False
    unreadable_catalog: Path | None = None


def _same_file(source: Path, destination: Path, sha256: str) -> bool:
    if not destination.is_file() or destination.stat().st_size != source.stat().st_size:
        return False
    return sha256_file(destination) == sha256


def place_file(source: Path, destination: Path, *, executable: bool) -> None:
    """Hard-link (same disk) or copy `source` to a hidden temporary name, then rename it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.kubeferry-install")
    temporary.unlink(missing_ok=True)
    try:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
        if executable:
            temporary.chmod(0o755)
        temporary.replace(destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def install_target(
    kind: str, parts: tuple[str, ...], cache_dir: Path, home: Path, kubectl_dirs: set[str]
) -> Path | None:
    """Where a bundle file goes; None when it is not for this target (another OS or arch)."""
    if kind == "k3s":
        return cache_dir / "k3s" / parts[1] / parts[2]
    if kind == "kubectl":
        return home / ".kuberlr" / parts[1] / parts[2] if parts[1] in kubectl_dirs else None
    return None


def install_bundle(
    folder: Path, report: VerifyReport, *, cache_dir: Path, home: Path, kubectl_dirs: set[str]
) -> InstallReport:
    """Place a verified bundle; merge its catalog into the cache's."""
    bundled = read_catalog(folder / CATALOG_FILE_NAME)  # before anything is placed
    result = InstallReport()
    for entry in report.manifest.files:
        kind, parts = classify(entry.path, source=str(folder / MANIFEST_NAME))
        target = install_target(kind, parts, cache_dir, home, kubectl_dirs)
        if target is None:
            if parts[0] == "kuberlr":
                result.skipped.append((entry.path, "another OS or arch than the target"))
            continue
        source = _inside(folder, parts)
        if _same_file(source, target, entry.sha256):
            result.present.append(entry.path)
            continue
        executable = kind == "kubectl" or parts[2] in K3S_BINARIES
        place_file(source, target, executable=executable)
        result.placed.append(entry.path)
    merge = merge_into_file(
        cache_dir / CATALOG_FILE_NAME,
        bundled,
        fallback=Catalog(versions=()),
        prefer=cached_folder_tags(cache_dir),
    )
    result.catalog_changed, result.unreadable_catalog = merge.changed, merge.kept_aside
    return result


def endpoints_note(endpoints: Endpoints) -> dict[str, str]:
    """The sources a bundle was made from, for its manifest."""
    return {"k3s": endpoints.k3s_download_url, "kubectl": endpoints.kubectl_mirror_url}
