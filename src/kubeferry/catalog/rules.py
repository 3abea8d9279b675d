"""Upstream channel list + GitHub releases -> Rancher Desktop's `k3s-versions.json`.

The rules (pure) follow Rancher Desktop's K3sHelper and its generator: a minimum version, drafts
and prereleases dropped, the highest `+k3sN` per patch, an assets check when a release lists
assets, `stable` and `latest` always kept, other channels only for releases at or above the
minimum, and only channels whose version is in the list. The file I/O is in `catalog/file.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kubeferry.core.platforms import ARCHITECTURES, K3sAssets
from kubeferry.core.versions import (
    DEFAULT_MINIMUM_VERSION,
    K3sTag,
    KubeVersion,
    parse_k3s_tag,
    parse_kube_version,
)
from kubeferry.errors import CatalogError, NotFoundError
from kubeferry.files.textfiles import parse_json

CACHE_VERSION: Final = 2
_BRANCH_CHANNEL: Final = re.compile(r"^v(\d+)\.(\d+)")


@dataclass(frozen=True)
class Catalog:
    """A k3s version catalog: tags ascending, channel name -> short version."""

    versions: tuple[K3sTag, ...]
    channels: Mapping[str, str] = field(default_factory=dict)

    def find_patch(self, short: str) -> K3sTag | None:
        """The listed tag whose short version is `short` (`1.30.6`)."""
        return next((tag for tag in self.versions if tag.short == short), None)

    def labels_by_short(self) -> dict[str, list[str]]:
        """Short version -> its channel names, in Rancher Desktop's label order."""
        labels: dict[str, list[str]] = {}
        for name in sort_channel_names(self.channels):
            labels.setdefault(self.channels[name], []).append(name)
        return labels


def _channel_sort_key(name: str) -> tuple[int, int, int, str]:
    if name == "stable":
        return (0, 0, 0, name)
    branch = _BRANCH_CHANNEL.match(name)
    if branch:
        return (2, int(branch.group(1)), int(branch.group(2)), name)
    return (1, 0, 0, name)


def sort_channel_names(names: Iterable[str]) -> list[str]:
    """Rancher Desktop's label order: `stable`, other words, then `v1.NN` by version."""
    return sorted(names, key=_channel_sort_key)


def _is_at_least(tag: K3sTag, minimum: KubeVersion) -> bool:
    return tag.patch_key >= minimum.sort_key()


def has_required_assets(asset_names: Iterable[str]) -> bool:
    """True when, for amd64 or arm64, the binary, sums file and an images archive are listed."""
    names = set(asset_names)
    for arch in ARCHITECTURES:
        assets = K3sAssets(arch)
        if assets.binary in names and assets.sums in names and names & set(assets.images):
            return True
    return False


def eligible_release(release: Mapping[str, Any], minimum: KubeVersion) -> K3sTag | None:
    """The tag of a GitHub release entry that belongs in the catalog, else None."""
    if release.get("draft") or release.get("prerelease"):
        return None
    tag_name = release.get("tag_name")
    tag = parse_k3s_tag(tag_name) if isinstance(tag_name, str) else None
    if tag is None or tag.is_prerelease or not _is_at_least(tag, minimum):
        return None
    assets = release.get("assets")
    # Rancher Desktop checks assets at run time; its generator does not. Check when listed.
    if isinstance(assets, list) and assets:
        names = [a.get("name", "") for a in assets if isinstance(a, Mapping)]
        if not has_required_assets(names):
            return None
    return tag


def select_highest_builds(tags: Iterable[K3sTag]) -> tuple[K3sTag, ...]:
    """One tag per patch, the highest `+k3sN`, ascending."""
    best: dict[tuple[int, int, int], K3sTag] = {}
    for tag in tags:
        known = best.get(tag.patch_key)
        if known is None or tag > known:
            best[tag.patch_key] = tag
    return tuple(sorted(best.values(), key=K3sTag.sort_key))  # one key per tag, not per <


def channel_versions(
    channels_document: Mapping[str, Any], minimum: KubeVersion, *, source: str
) -> dict[str, str]:
    """Channel name -> short version from the update.k3s.io collection."""
    resource_type = channels_document.get("resourceType")
    if resource_type not in ("channel", "channels"):
        raise CatalogError(
            f"{source} is not a k3s channel list: resourceType is {resource_type!r}, "
            "expected 'channels'. Pass the JSON saved from update.k3s.io/v1-release/channels.",
            path=source if not source.startswith("http") else None,
            url=source if source.startswith("http") else None,
        )
    data = channels_document.get("data")
    if not isinstance(data, list):
        raise CatalogError(f"{source} has no 'data' list of channels; save the channel list again.")
    result: dict[str, str] = {}
    for entry in data:
        if not isinstance(entry, Mapping) or entry.get("type") != "channel":
            continue
        name, latest = entry.get("name"), entry.get("latest")
        if not isinstance(name, str) or not isinstance(latest, str):
            continue
        tag = parse_k3s_tag(latest)
        if tag is None:
            continue
        always = name in ("stable", "latest")
        if always or (not tag.is_prerelease and _is_at_least(tag, minimum)):
            result[name] = tag.short
    return result


def build_catalog(
    channels: Mapping[str, str],
    tags: Iterable[K3sTag],
    *,
    prefer: Iterable[K3sTag] = (),
) -> Catalog:
    """A catalog of the highest build per patch, with channels kept only for listed versions.

    A tag in `prefer` (a cached one) wins over any other build of its patch, so the catalog
    always names a folder that exists offline.
    """
    versions = {tag.patch_key: tag for tag in select_highest_builds(tags)}
    for tag in select_highest_builds(prefer):
        versions[tag.patch_key] = tag
    ordered = tuple(sorted(versions.values(), key=K3sTag.sort_key))
    shorts = {tag.short for tag in ordered}
    kept = {
        name: channels[name] for name in sort_channel_names(channels) if channels[name] in shorts
    }
    return Catalog(versions=ordered, channels=kept)


def convert_upstream(
    channels_document: Mapping[str, Any],
    releases: Iterable[Mapping[str, Any]],
    *,
    minimum: KubeVersion = DEFAULT_MINIMUM_VERSION,
    channels_source: str = "channel list",
    prefer: Iterable[K3sTag] = (),
) -> Catalog:
    """Saved or fetched upstream JSON to a catalog, with Rancher Desktop's rules."""
    channels = channel_versions(channels_document, minimum, source=channels_source)
    tags = [tag for release in releases if (tag := eligible_release(release, minimum))]
    kept = [tag for tag in prefer if not tag.is_prerelease and _is_at_least(tag, minimum)]
    return build_catalog(channels, tags, prefer=kept)


def merge_catalogs(older: Catalog, newer: Catalog, *, prefer: Iterable[K3sTag] = ()) -> Catalog:
    """The union of both catalogs' versions; channels of the newer one win."""
    channels = dict(older.channels)
    channels.update(newer.channels)
    return build_catalog(channels, [*older.versions, *newer.versions], prefer=prefer)


def releases_from_pages(document: Any, *, source: str) -> list[Mapping[str, Any]]:
    """Release entries from one saved API page (a list) or a list of pages (a list of lists)."""
    if not isinstance(document, list):
        raise CatalogError(
            f"{source} is not a GitHub releases list: expected a JSON array of releases "
            "(or an array of pages). Save the output of the releases API again.",
            path=source,
        )
    releases: list[Mapping[str, Any]] = []
    for item in document:
        if isinstance(item, list):
            releases.extend(entry for entry in item if isinstance(entry, Mapping))
        elif isinstance(item, Mapping):
            releases.append(item)
    if document and not releases:
        raise CatalogError(
            f"{source} holds no release objects; save the releases API output again."
        )
    if any("tag_name" not in entry for entry in releases):
        raise CatalogError(
            f"{source} has entries without 'tag_name': it does not look like GitHub releases.",
            path=source,
        )
    return releases


def resolve_k3s_spec(catalog: Catalog, spec: str, *, source: str = "the catalog") -> K3sTag:
    """A tag for SPEC: a tag, `1.30.6`, `1.30` (newest patch) or a channel (`stable`, `v1.30`)."""
    text = spec.strip()
    if "+k3s" in text and (tag := parse_k3s_tag(text)):
        return tag
    if text in catalog.channels:
        found = catalog.find_patch(catalog.channels[text])
        if found:
            return found
    version = parse_kube_version(text)
    if version is not None:
        candidates = [
            tag
            for tag in catalog.versions
            if tag.minor_key == version.minor_key and (version.patch in (None, tag.patch))
        ]
        if candidates:
            return max(candidates)
    channels = ", ".join(sort_channel_names(catalog.channels)) or "none"
    raise NotFoundError(
        f"{spec!r} is not a k3s tag, a version or a channel in {source} (channels: {channels}). "
        "Run 'kubeferry versions' to see what is listed, or 'kubeferry catalog update' online."
    )


# -- the file ---------------------------------------------------------------------------------


def catalog_to_json(catalog: Catalog) -> str:
    """Rancher Desktop's own format: keys in its order, 2-space indent, trailing newline."""
    document = {
        "cacheVersion": CACHE_VERSION,
        "versions": [str(tag) for tag in catalog.versions],
        "channels": dict(catalog.channels),
    }
    return json.dumps(document, indent=2) + "\n"


def parse_catalog(
    text: str, *, source: str, minimum: KubeVersion = DEFAULT_MINIMUM_VERSION
) -> Catalog:
    """Parse a `k3s-versions.json`; versions below `minimum` are dropped as Rancher Desktop does."""
    document = parse_json(
        text,
        source=source,
        fix="Run 'kubeferry catalog update' (online) or 'kubeferry catalog convert' to rewrite it.",
        error=CatalogError,
    )
    if not isinstance(document, dict) or document.get("cacheVersion") != CACHE_VERSION:
        found = document.get("cacheVersion") if isinstance(document, dict) else None
        raise CatalogError(
            f"{source} has cacheVersion {found!r}; Rancher Desktop and kubeferry read only "
            f"cacheVersion {CACHE_VERSION}. Run 'kubeferry catalog update' to rewrite it.",
            path=source,
            expected=str(CACHE_VERSION),
            actual=repr(found),
        )
    raw_versions = document.get("versions", [])
    raw_channels = document.get("channels", {})
    if not isinstance(raw_versions, list) or not isinstance(raw_channels, dict):
        raise CatalogError(
            f"{source}: 'versions' must be a list and 'channels' an object. "
            "Run 'kubeferry catalog update' to rewrite it.",
            path=source,
        )
    tags = [
        tag
        for value in raw_versions
        if isinstance(value, str)
        and (tag := parse_k3s_tag(value))
        and not tag.is_prerelease
        and _is_at_least(tag, minimum)
    ]
    channels = {str(k): v for k, v in raw_channels.items() if isinstance(v, str)}
    return build_catalog(channels, tags)
