"""Filling and repairing `<cache>/k3s/<tag>/` from the k3s release downloads.

A new version is assembled in `<cache>/k3s/tmp-<tag>-kubeferry/` and renamed into place, so a
half-made version is never visible (Rancher Desktop ignores `tmp-` folders). The name is fixed,
not random, so a run that was killed resumes where it stopped. An existing folder is repaired in
place, file by file: each replacement appears only after its digest matched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from kubeferry.core.endpoints import Endpoints
from kubeferry.core.layouts import INSTALL_SCRIPT_NAME
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.versions import K3sTag
from kubeferry.download.engine import DownloadResult
from kubeferry.errors import UnsafePathError
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.stores.cache import CachedVersion, State, inspect_folder, k3s_root
from kubeferry.stores.release import fetch_release
from kubeferry.targets.rancher_desktop import RancherDesktopCache


@dataclass(frozen=True)
class FillResult:
    """What filling one version folder for one arch did."""

    tag: K3sTag
    arch: str
    folder: Path
    downloaded: tuple[str, ...]
    fetched_bytes: int
    already_cached: bool = False


@dataclass(frozen=True)
class Filler:
    """Downloads k3s release files into the cache."""

    client: httpx.Client
    endpoints: Endpoints
    cache_dir: Path
    progress_for: ProgressFactory = lambda label: None
    workers: int = 3
    connections: int | None = None

    def staging_folder(self, tag: K3sTag) -> Path:
        """The fixed temporary folder a new version is assembled in (resumed after a kill)."""
        cache = RancherDesktopCache(self.cache_dir, purpose="")
        return cache.staging_folder(cache.version_folder(str(tag)))

    def fill(self, tag: K3sTag, arch: str) -> FillResult:
        """Make `<cache>/k3s/<tag>` complete and verified for `arch`."""
        folder = k3s_root(self.cache_dir) / str(tag)
        staging = self.staging_folder(tag)
        for path in (folder, staging):
            if path.is_symlink():
                raise UnsafePathError(
                    f"{path} is a symbolic link; kubeferry fills only plain folders in the cache "
                    "and left it untouched. Remove the link and run the command again.",
                    path=path,
                )
        if folder.is_dir():
            report = inspect_folder(tag, folder, arch)
            if report.state is State.OK:
                return self._add_script(report)
            return self.repair(report)
        results = self._fetch(staging, tag, arch, wanted=None)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(folder)
        return _result(tag, arch, folder, results)

    def _add_script(self, report: CachedVersion) -> FillResult:
        """A verified folder of an older kubeferry gets k3s's install script (when upstream has
        one); it is optional, so the version counts as cached either way."""
        tag, arch, folder = report.tag, report.arch, report.folder
        results = []
        if not report.has_install_script:
            results = self._fetch(folder, tag, arch, wanted={INSTALL_SCRIPT_NAME})
        if not results:
            return FillResult(tag, arch, folder, (), 0, already_cached=True)
        return _result(tag, arch, folder, results)

    def repair(self, report: CachedVersion) -> FillResult:
        """Download again the files `report` found bad or missing, each verified in place."""
        # A new sums file may change every verdict: each file is then checked against it and
        # fetched again only when it does not match.
        bad_sums = K3sAssets(report.arch).sums in report.bad_files
        wanted = None if bad_sums else set(report.bad_files)
        results = self._fetch(report.folder, report.tag, report.arch, wanted=wanted)
        return _result(report.tag, report.arch, report.folder, results)

    def _fetch(
        self, folder: Path, tag: K3sTag, arch: str, *, wanted: set[str] | None
    ) -> list[DownloadResult]:
        return fetch_release(
            self.client,
            self.endpoints,
            folder,
            tag,
            arch,
            progress_for=self.progress_for,
            wanted=wanted,
            workers=self.workers,
            connections=self.connections,
        )


def _result(tag: K3sTag, arch: str, folder: Path, results: list[DownloadResult]) -> FillResult:
    fetched = [r for r in results if not r.skipped]
    return FillResult(
        tag,
        arch,
        folder,
        tuple(r.job.destination.name for r in fetched),
        sum(r.fetched for r in fetched),
    )


def repair_advice(report: CachedVersion, endpoints: Endpoints) -> list[tuple[str, Path]]:
    """(URL, destination) of every bad file: what to bring from a connected machine."""
    tag = str(report.tag)
    return [(endpoints.k3s_asset_url(tag, name), report.folder / name) for name in report.bad_files]
