"""Workload images inside a bundle: the OCI image layout under `images/` and the pins (pure).

    images/oci-layout                 {"imageLayoutVersion": "1.0.0"}
    images/index.json                 one descriptor per image name, annotated with the full
                                      reference (`org.opencontainers.image.ref.name` and
                                      `io.containerd.image.name`)
    images/blobs/sha256/<hex>         manifests, indexes, configs and layers, each stored once

The pins (reference -> the manifest or index digest the tag resolved to when the bundle was
made, its platforms and sizes) go into the bundle manifest's `targets.images`, so `bundle
inspect` reads them without opening the layout, and every blob is a manifest file entry, so
`bundle verify` re-hashes it.

Multi-arch: when an index lists platforms that were left out, the bundle keeps the index bytes
exactly as upstream sent them (its digest stays upstream's, so `name@sha256:...` still works)
and only the chosen children; see the README ("Workload images").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubeferry.core.oci_media import OCI_INDEX

REF_NAME: Final = "org.opencontainers.image.ref.name"
CONTAINERD_NAME: Final = "io.containerd.image.name"
LAYOUT_DOCUMENT: Final = '{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class ImagePin:
    """One image of the bundle: its full name and what it was pinned to at create time."""

    reference: str
    digest: str
    media_type: str
    size: int
    platforms: tuple[str, ...]
    upstream_platforms: tuple[str, ...] = ()
    blobs_size: int = 0

    @property
    def complete(self) -> bool:
        """Every platform of an index is in the bundle (or it is a single manifest)."""
        return set(self.upstream_platforms) <= set(self.platforms)

    @property
    def repository_name(self) -> str:
        """`host/repository` without tag or digest."""
        name = self.reference.split("@", 1)[0]
        last = name.rsplit("/", 1)
        if ":" in last[-1]:
            name = name.rsplit(":", 1)[0]
        return name

    def as_dict(self) -> dict[str, Any]:
        """As written in the manifest's `targets.images`."""
        return {
            "reference": self.reference,
            "digest": self.digest,
            "media_type": self.media_type,
            "size": self.size,
            "platforms": list(self.platforms),
            "upstream_platforms": list(self.upstream_platforms),
            "blobs_size": self.blobs_size,
        }


def pins_from_targets(targets: Mapping[str, Any]) -> tuple[ImagePin, ...]:
    """The pins a manifest records (entries that do not parse are left out)."""
    pins = []
    for entry in targets.get("images") or ():
        if not isinstance(entry, dict):
            continue
        try:
            pins.append(
                ImagePin(
                    str(entry["reference"]),
                    str(entry["digest"]),
                    str(entry.get("media_type", "")),
                    int(entry.get("size", 0)),
                    tuple(str(p) for p in entry.get("platforms") or ()),
                    tuple(str(p) for p in entry.get("upstream_platforms") or ()),
                    int(entry.get("blobs_size", 0)),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(pins)


def index_document(pins: Sequence[ImagePin]) -> str:
    """`images/index.json`: one descriptor per image name, full references as annotations."""
    manifests = [
        {
            "mediaType": pin.media_type,
            "digest": pin.digest,
            "size": pin.size,
            "annotations": {REF_NAME: pin.reference, CONTAINERD_NAME: pin.reference},
        }
        for pin in pins
    ]
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return json.dumps(document, indent=2) + "\n"


def platform_name(platform: Mapping[str, Any] | None) -> str:
    """`os/arch[/variant]` of an OCI platform object (`unknown/unknown` when absent)."""
    if not isinstance(platform, Mapping):
        return "unknown/unknown"
    parts = [str(platform.get("os") or "unknown"), str(platform.get("architecture") or "unknown")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def platform_matches(wanted: str, actual: str) -> bool:
    """`linux/arm` matches `linux/arm/v7`; `linux/arm64/v8` matches `linux/arm64` too."""
    if wanted == "all" or wanted == actual:
        return True
    want, have = wanted.split("/"), actual.split("/")
    return want[:2] == have[:2] and (len(want) == 2 or len(have) == 2)
