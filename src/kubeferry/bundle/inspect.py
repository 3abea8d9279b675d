"""What a bundle holds (`bundle inspect DIR`), its sizes, and what is missing for which OS.

Read from the manifest's typed entries (`ManifestFile.place`) without hashing; `bundle verify`
is the command that re-hashes. Coverage uses the wrapper's skew rule (`core/skew.py`): a kubectl
serves k3s minors within one of its own.
"""

from __future__ import annotations

import stat
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeferry.bundle.images import ImagePin, pins_from_targets
from kubeferry.bundle.manifest import Manifest, ManifestFile
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.skew import parse_version, within_skew
from kubeferry.verification.bundle import read_manifest


@dataclass(frozen=True)
class K3sEntry:
    """One k3s version for one arch: its files and their total size."""

    tag: str
    arch: str
    files: tuple[str, ...]
    size: int

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"tag": self.tag, "arch": self.arch, "files": list(self.files), "size": self.size}


@dataclass(frozen=True)
class KubectlEntry:
    """One kubectl binary and the bundle's k3s minors it may talk to."""

    version: str
    os: str
    arch: str
    path: str
    size: int
    covers: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "version": self.version,
            "os": self.os,
            "arch": self.arch,
            "path": self.path,
            "size": self.size,
            "covers": list(self.covers),
        }


@dataclass(frozen=True)
class BundleContents:
    """The inspection of one bundle."""

    folder: str
    created: str
    tool: str
    total_size: int
    catalog: bool
    k3s: tuple[K3sEntry, ...]
    kubectls: tuple[KubectlEntry, ...]
    missing: tuple[str, ...]
    absent_on_disk: tuple[str, ...]
    images: tuple[ImagePin, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`bundle inspect --json`)."""
        return {
            "folder": self.folder,
            "created": self.created,
            "tool": self.tool,
            "total_size": self.total_size,
            "catalog": self.catalog,
            "k3s": [entry.as_dict() for entry in self.k3s],
            "kubectls": [entry.as_dict() for entry in self.kubectls],
            "missing": list(self.missing),
            "absent_on_disk": list(self.absent_on_disk),
            "images": [image_dict(pin) for pin in self.images],
        }


def image_dict(pin: ImagePin) -> dict[str, Any]:
    """One workload image for `bundle inspect --json`: the bundle keeps upstream's digest; an
    index whose platforms were left out lists them (a push then writes a filtered index)."""
    left_out = [p for p in pin.upstream_platforms if p not in pin.platforms]
    return {
        "reference": pin.reference,
        "digest": pin.digest,
        "media_type": pin.media_type,
        "platforms": list(pin.platforms),
        "size": pin.blobs_size,
        "upstream_digest": True,
        "left_out": left_out,
    }


def _minor(text: str) -> tuple[int, int] | None:
    version = parse_version(text)
    return (version[0], version[1]) if version else None


def _label(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def _k3s_entries(files: list[ManifestFile]) -> tuple[K3sEntry, ...]:
    grouped: dict[tuple[str, str], list[ManifestFile]] = defaultdict(list)
    for item in files:
        if item.place.kind == "k3s" and item.place.tag and item.place.arch:
            grouped[(item.place.tag, item.place.arch)].append(item)
    for item in files:  # install.sh belongs to every arch of its tag
        if item.place.kind == "k3s" and item.place.tag and not item.place.arch:
            for tag, arch in list(grouped):
                if tag == item.place.tag:
                    grouped[(tag, arch)].append(item)
    return tuple(
        K3sEntry(tag, arch, tuple(f.place.name for f in group), sum(f.size for f in group))
        for (tag, arch), group in sorted(grouped.items())
    )


def _kubectl_entries(
    files: list[ManifestFile], minors: set[tuple[int, int]]
) -> tuple[KubectlEntry, ...]:
    entries = []
    for item in files:
        place = item.place
        if place.kind != "kubectl" or not (place.version and place.os and place.arch):
            continue
        own = _minor(place.version)
        covers = sorted(m for m in minors if own and within_skew(own, m))
        entries.append(
            KubectlEntry(
                place.version,
                place.os,
                place.arch,
                item.path,
                item.size,
                tuple(_label(m) for m in covers),
            )
        )
    return tuple(sorted(entries, key=lambda e: (e.os, e.arch, _minor(e.version) or (0, 0))))


def _missing(
    manifest: Manifest, k3s: tuple[K3sEntry, ...], kubectls: tuple[KubectlEntry, ...]
) -> tuple[str, ...]:
    """Sentences for each gap: a k3s asset for an arch, a kubectl for an OS and k3s minor."""
    targets = manifest.targets
    arches = [str(a) for a in targets.get("arches", ())] or sorted({e.arch for e in k3s})
    oses = [str(o) for o in targets.get("os", ())] or sorted({e.os for e in kubectls})
    tags = sorted({e.tag for e in k3s} | {str(t) for t in targets.get("k3s", ())})
    gaps: list[str] = []
    for tag in tags:
        for arch in arches:
            have = next((e.files for e in k3s if e.tag == tag and e.arch == arch), ())
            assets = K3sAssets(arch)
            needed = [assets.binary, assets.sums]
            lacking = [name for name in needed if name not in have]
            if not any(name in have for name in assets.images):
                lacking.append(assets.images[0])
            if lacking:
                gaps.append(f"k3s {tag} ({arch}): no {', '.join(lacking)}")
    wants_kubectl = targets.get("kubectl") != [] and bool(oses)
    minors = sorted({m for tag in tags if (m := _minor(tag))})
    for os_name in oses if wants_kubectl else ():
        for arch in arches:
            mine = [e for e in kubectls if e.os == os_name and e.arch == arch]
            for minor in minors:
                if not any(_label(minor) in e.covers for e in mine):
                    gaps.append(
                        f"kubectl for k3s {_label(minor)} on {os_name}/{arch}: none within one "
                        "minor (the wrapper would need to download one)"
                    )
    return tuple(gaps)


def _regular(path: Path) -> bool:
    """A regular file, the link itself not followed (a bundle never holds links)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def inspect_bundle(folder: Path) -> BundleContents:
    """What the bundle in `folder` holds, by its manifest; ManifestError when it has none."""
    manifest = read_manifest(folder)
    files = list(manifest.files)
    k3s = _k3s_entries(files)
    minors = {m for entry in k3s if (m := _minor(entry.tag))}
    kubectls = _kubectl_entries(files, minors)
    absent = tuple(f.path for f in files if not _regular(folder / f.path))
    return BundleContents(
        folder=str(folder),
        created=manifest.created,
        tool=manifest.tool,
        total_size=sum(f.size for f in files),
        catalog=any(f.place.kind == "catalog" for f in files),
        k3s=k3s,
        kubectls=kubectls,
        missing=_missing(manifest, k3s, kubectls),
        absent_on_disk=absent,
        images=pins_from_targets(manifest.targets),
    )
