"""What a bundle carries (pure): the kubectl covering set and the list of files with their URLs.

A bundle's layout (SPEC §3):

    kubeferry-bundle.json                          the manifest (manifest.py)
    k3s-versions.json                              the catalog, covering every bundled version
    k3s/<tag>/<asset>                              exactly the Rancher Desktop cache layout
    kuberlr/<os>-<arch>/kubectl<M.m.p>[.exe]       kuberlr's layout
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from kubeferry.core.endpoints import Endpoints
from kubeferry.core.layouts import k3s_bundle_path, kubectl_bundle_path
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.skew import covering_minors
from kubeferry.core.versions import K3sTag, KubeVersion

KUBECTL_MODES: Final = ("auto", "exact", "none")


def kubectl_minors(mode: str, tags: Sequence[K3sTag]) -> list[tuple[int, int]]:
    """Kubectl minors for `auto` (covering set), `exact` (one per k3s minor) or `none`."""
    minors = sorted({tag.minor_key for tag in tags})
    if mode == "auto":
        return covering_minors(minors)
    if mode == "exact":
        return minors
    return []


@dataclass(frozen=True)
class PlannedFile:
    """One file of a bundle: where it goes inside the bundle and where it comes from."""

    path: str
    url: str
    kind: str
    size: int | None = None
    tag: str | None = None
    arch: str | None = None
    target_os: str | None = None
    version: str | None = None


def k3s_files(endpoints: Endpoints, tag: K3sTag, arch: str, images_name: str) -> list[PlannedFile]:
    """The binary, images archive and sums file of one tag and arch."""
    assets = K3sAssets(arch)
    names = ((assets.sums, "k3s-sums"), (assets.binary, "k3s-binary"), (images_name, "k3s-images"))
    return [
        PlannedFile(
            k3s_bundle_path(str(tag), name),
            endpoints.k3s_asset_url(str(tag), name),
            kind,
            tag=str(tag),
            arch=arch,
        )
        for name, kind in names
    ]


def kubectl_file(
    endpoints: Endpoints, version: KubeVersion, target_os: str, arch: str
) -> PlannedFile:
    """One kubectl binary at kuberlr's path inside the bundle."""
    return PlannedFile(
        kubectl_bundle_path(version.short, target_os, arch),
        endpoints.kubectl_url(version.short, target_os, arch),
        "kubectl",
        target_os=target_os,
        arch=arch,
        version=version.short,
    )


def total_size(files: Iterable[PlannedFile]) -> tuple[int, int]:
    """(bytes known, number of files whose size is unknown)."""
    known = unknown = 0
    for item in files:
        if item.size is None:
            unknown += 1
        else:
            known += item.size
    return known, unknown
