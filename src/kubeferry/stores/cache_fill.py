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
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.versions import K3sTag
from kubeferry.errors import NotFoundError, SumsFileError
from kubeferry.net.download import (
    DownloadJob,
    DownloadResult,
    ProgressFactory,
    discard_partial,
    download,
    first_available,
    run_parallel,
)
from kubeferry.net.hashes import parse_sums
from kubeferry.stores.cache import CachedVersion, State, inspect_folder, k3s_root, present_images


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

    def staging_folder(self, tag: K3sTag) -> Path:
        """The fixed temporary folder a new version is assembled in."""
        return k3s_root(self.cache_dir) / f"tmp-{tag}-kubeferry"

    def fill(self, tag: K3sTag, arch: str) -> FillResult:
        """Make `<cache>/k3s/<tag>` complete and verified for `arch`."""
        folder = k3s_root(self.cache_dir) / str(tag)
        if folder.is_dir():
            report = inspect_folder(tag, folder, arch)
            if report.state is State.OK:
                return FillResult(tag, arch, folder, (), 0, already_cached=True)
            return self.repair(report)
        staging = self.staging_folder(tag)
        results = self._fetch_into(staging, tag, arch, refetch_sums=True, wanted=None)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(folder)
        return _result(tag, arch, folder, results)

    def repair(self, report: CachedVersion) -> FillResult:
        """Download again the files `report` found bad or missing, each verified in place."""
        if K3sAssets(report.arch).sums in report.bad_files:
            # A new sums file may change every verdict: each file is checked against it and
            # fetched again only when it does not match.
            results = self._fetch_into(
                report.folder, report.tag, report.arch, refetch_sums=True, wanted=None
            )
        else:
            results = self._fetch_into(
                report.folder,
                report.tag,
                report.arch,
                refetch_sums=False,
                wanted=set(report.bad_files),
            )
        return _result(report.tag, report.arch, report.folder, results)

    def _get(
        self,
        tag: K3sTag,
        name: str,
        destination: Path,
        sha256: str | None = None,
        *,
        keep_existing: bool = False,
    ) -> DownloadResult:
        job = DownloadJob(self.endpoints.k3s_asset_url(str(tag), name), destination, sha256=sha256)
        return download(
            self.client,
            job,
            progress=self.progress_for(f"{tag} {name}"),
            keep_existing=keep_existing,
        )

    def _fetch_into(
        self, folder: Path, tag: K3sTag, arch: str, *, refetch_sums: bool, wanted: set[str] | None
    ) -> list[DownloadResult]:
        assets = K3sAssets(arch)
        # A staging folder may hold finished files from a killed run (hash them, keep the good);
        # a repair replaces files already known to be bad (no point hashing them again).
        resume = wanted is None
        folder.mkdir(parents=True, exist_ok=True)
        results: list[DownloadResult] = []
        sums_path = folder / assets.sums
        if refetch_sums:
            results.append(self._get(tag, assets.sums, sums_path))
        digests = parse_sums(
            sums_path.read_text(encoding="utf-8", errors="replace"),
            source=self.endpoints.k3s_asset_url(str(tag), assets.sums),
        )
        existing_images = present_images(folder, assets)
        want_binary = wanted is None or assets.binary in wanted
        want_images = wanted is None or bool(wanted & set(assets.images))

        def binary() -> list[DownloadResult]:
            expected = _listed(digests, assets.binary, assets.sums)
            return [
                self._get(
                    tag, assets.binary, folder / assets.binary, expected, keep_existing=resume
                )
            ]

        def images() -> list[DownloadResult]:
            names = [existing_images] if existing_images else list(assets.images)
            return [self._get_images(tag, folder, names, digests, assets, resume=resume)]

        tasks = [task for task, want in ((binary, want_binary), (images, want_images)) if want]
        for group in run_parallel(tasks, workers=self.workers):
            results.extend(group)
        (folder / assets.binary).chmod(0o755)
        return results

    def _get_images(
        self,
        tag: K3sTag,
        folder: Path,
        names: list[str],
        digests: dict[str, str],
        assets: K3sAssets,
        *,
        resume: bool,
    ) -> DownloadResult:
        """The first images archive listed in the sums file that the server has."""
        listed = [name for name in names if name in digests]
        if not listed:
            _listed(digests, names[0], assets.sums)

        def get(name: str) -> DownloadResult:
            try:
                return self._get(tag, name, folder / name, digests[name], keep_existing=resume)
            except NotFoundError:
                discard_partial(folder / name)
                raise

        return first_available(listed, get)


def _listed(digests: dict[str, str], name: str, sums_name: str) -> str:
    if name not in digests:
        raise SumsFileError(
            f"{sums_name} does not list {name}, so {name} cannot be verified. The release's "
            "sums file is incomplete; use another k3s version or a mirror with a complete one.",
            path=sums_name,
        )
    return digests[name]


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
