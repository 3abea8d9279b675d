"""`kubectl list|get|which` as services over the kuberlr folder and the wrapper's choice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubeferry.core.kuberlr import folder
from kubeferry.core.platforms import host_platform
from kubeferry.core.skew import format_version
from kubeferry.services.common import kubectl_endpoints, kuberlr_config, network, wrapper_environ
from kubeferry.settings import Settings
from kubeferry.shim import which as wrapper_choice
from kubeferry.stores.kubectls import download_kubectl, list_kubectls, resolve_kubectl_version
from kubeferry.stores.lock import hold_all

if TYPE_CHECKING:  # `kubectl list` is local: the download stack loads only to fetch
    from kubeferry.download.engine import DownloadResult
    from kubeferry.jobs.progress import ProgressFactory


def _no_progress(label: str) -> None:
    return None


@dataclass(frozen=True)
class KubectlListing:
    """The kubectl binaries the wrapper and kuberlr can use, newest first."""

    folders: tuple[str, ...]
    system_path: str
    kubectls: tuple[dict[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`kubectl list --json`)."""
        return {
            "folders": list(self.folders),
            "system_path": self.system_path,
            "kubectls": list(self.kubectls),
        }


def list_local(settings: Settings) -> KubectlListing:
    """Every kubectl in the kuberlr folders of the target arches and in SystemPath."""
    config = kuberlr_config(settings)
    rows = [
        {
            "version": item.version.short,
            "path": str(item.path),
            "arch": arch,
            "where": "system" if item.system else "kuberlr",
        }
        for arch in settings.arches
        for item in list_kubectls(
            settings.kuberlr_dir(arch), config.system_path, windows=settings.target_os == "windows"
        )
    ]
    folders = tuple(str(settings.kuberlr_dir(a)) for a in settings.arches)
    return KubectlListing(folders, config.system_path, tuple(rows))


@dataclass(frozen=True)
class FetchedKubectls:
    """What `kubectl get` placed: (version, arch, result) in request order."""

    fetched: tuple[tuple[str, str, DownloadResult], ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`kubectl get --json`)."""
        return {
            "kubectls": [
                {"version": v, "arch": a, "path": str(r.job.destination)}
                for v, a, r in self.fetched
            ]
        }


def get_kubectls(
    settings: Settings, versions: tuple[str, ...], *, progress: ProgressFactory = _no_progress
) -> FetchedKubectls:
    """Download kubectl versions (`1.30` = newest 1.30 patch) into the kuberlr folder, verified."""
    from kubeferry.jobs.parallel import run_parallel

    endpoints = kubectl_endpoints(settings)
    with network(settings, endpoints.kubectl_mirror_url) as client:
        resolved = [resolve_kubectl_version(client, endpoints, v).short for v in versions]
        work = [(v, arch) for v in dict.fromkeys(resolved) for arch in settings.arches]
        folders = [
            (settings.kuberlr_dir(a), f"the kuberlr folder {settings.kuberlr_dir(a)}")
            for a in settings.arches
        ]

        def task(version: str, arch: str) -> Callable[[], DownloadResult]:
            reporter = progress(f"kubectl {version} {arch}")
            return lambda: download_kubectl(
                client,
                endpoints,
                version,
                settings.target_os,
                arch,
                settings.kuberlr_dir(arch),
                progress=reporter,
                connections=settings.connections,
            )

        with hold_all(folders, announce=settings.announce):
            results = run_parallel([task(v, a) for v, a in work], workers=3, cancel=settings.cancel)
    return FetchedKubectls(tuple((v, a, r) for (v, a), r in zip(work, results, strict=True)))


@dataclass(frozen=True)
class WrapperChoice:
    """Which kubectl the wrapper would run, and why."""

    path: str | None
    version: str | None
    server: str | None
    source: str
    download: str | None
    reasons: tuple[str, ...]
    folder: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`kubectl which --json`)."""
        return {
            "path": self.path,
            "version": self.version,
            "server": self.server,
            "source": self.source,
            "download": self.download,
            "reasons": list(self.reasons),
        }


def explain_choice(settings: Settings, args: list[str]) -> WrapperChoice:
    """Ask the wrapper (its one public door) what it would run for `args`."""
    environ = wrapper_environ(settings)
    if settings.offline:
        environ["KUBEFERRY_OFFLINE"] = "1"
    kuberlr_config(settings)  # a broken config file is reported as the wrapper would
    decision = wrapper_choice(environ, args)
    binary = decision.binary
    return WrapperChoice(
        path=binary[1] if binary else None,
        version=format_version(binary[0]) if binary else None,
        server=format_version(decision.server) if decision.server else None,
        source=decision.source,
        download=format_version(decision.download) if decision.download else None,
        reasons=tuple(decision.reasons),
        folder=folder(str(settings.home), *host_platform()),
    )
