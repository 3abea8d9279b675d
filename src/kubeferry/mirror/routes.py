"""Bundles -> the mirror's route table, in the upstream URL layouts (pure).

One path prefix per upstream host, so an upstream URL becomes a mirror URL by replacing
`https://` with the mirror's base:

    /dl.k8s.io/release/stable.txt | stable-1.N.txt
    /dl.k8s.io/release/vM.m.p/bin/<os>/<arch>/kubectl[.exe][.sha256|.sha512]
    /github.com/k3s-io/k3s/releases/download/<tag>/<asset>      (the server also accepts %2B)
    /github.com/k3s-io/k3s/releases/tag/<tag>                   (where channel redirects land)
    /update.k3s.io/v1-release/channels[/<name>]                 (collection; 302 to the tag page)
    /api.github.com/repos/k3s-io/k3s/releases                   (releases API, paged)
    /raw.githubusercontent.com/k3s-io/k3s/<tag>/install.sh[.sha256]   (k3s's script at a tag)
    /get.k3s.io/                                                (the newest release's install.sh)
    /                                                           (the index page)

Keys are decoded paths (`+`, never `%2B`). Generated bodies that name the mirror's own address
(channel links, download URLs) depend on the base, so the table is built for one base.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from kubeferry.bundle.manifest import Manifest
from kubeferry.catalog.rules import Catalog, merge_catalogs
from kubeferry.core.layouts import INSTALL_SCRIPT_NAME, K3S_BINARY_NAMES, KUBERLR_FOLDER
from kubeferry.core.versions import K3sTag, KubeVersion, parse_k3s_tag, parse_kube_version
from kubeferry.errors import MirrorError
from kubeferry.mirror import documents

KUBECTL_PREFIX: Final = "/dl.k8s.io/release"
DOWNLOAD_PREFIX: Final = "/github.com/k3s-io/k3s/releases/download"
TAG_PAGE_PREFIX: Final = "/github.com/k3s-io/k3s/releases/tag"
CHANNELS_PATH: Final = "/update.k3s.io/v1-release/channels"
RELEASES_PATH: Final = "/api.github.com/repos/k3s-io/k3s/releases"
SCRIPT_PREFIX: Final = "/raw.githubusercontent.com/k3s-io/k3s"
GET_K3S_PATH: Final = "/get.k3s.io/"
JSON: Final = "application/json; charset=utf-8"
TEXT: Final = "text/plain; charset=utf-8"
HTML: Final = "text/html; charset=utf-8"


@dataclass(frozen=True)
class BundleEntry:
    """One file of a bundle, typed: what the mirror needs to know about it."""

    bundle: Path
    path: str
    kind: str  # "k3s" | "kubectl" | "catalog"
    size: int
    sha256: str
    tag: str = ""  # k3s files
    asset: str = ""
    version: str = ""  # kubectl files: M.m.p
    os: str = ""
    arch: str = ""


@dataclass(frozen=True)
class Bundle:
    """A bundle as the mirror sees it: its folder, when it was made, its files and catalog."""

    folder: Path
    created: str
    entries: tuple[BundleEntry, ...]
    catalog: Catalog = field(default_factory=lambda: Catalog(versions=()))
    digest: str = ""  # sha256 of its manifest: how the index page names it (never its folder)

    def contents(self) -> str:
        """What it holds, in a line: its k3s tags and kubectl versions with their platforms."""
        tags = sorted({e.tag for e in self.entries if e.kind == "k3s" and e.tag})
        kubectls: dict[str, set[str]] = {}
        for e in self.entries:
            if e.kind == "kubectl":
                kubectls.setdefault(e.version, set()).add(f"{e.os}-{e.arch}")
        parts = [f"k3s {', '.join(tags)}"] if tags else []
        parts += [
            f"kubectl {version} ({', '.join(sorted(platforms))})"
            for version, platforms in sorted(kubectls.items())
        ]
        return "; ".join(parts) or "no files the mirror serves"


def bundle_entries(folder: Path, manifest: Manifest) -> tuple[str, tuple[BundleEntry, ...]]:
    """(created, typed entries) from a bundle's parsed manifest."""
    entries = []
    for item in manifest.files:
        place = item.place  # parsed once, by the manifest
        entries.append(
            BundleEntry(
                folder,
                item.path,
                place.kind,
                item.size,
                item.sha256,
                tag=place.tag or "",
                asset=place.name if place.kind == "k3s" else "",
                version=place.version or "",
                os=place.os or "",
                arch=place.arch or "",
            )
        )
    return manifest.created, tuple(entries)


@dataclass(frozen=True)
class FileRoute:
    """Bytes of a bundle file, served only after they matched `sha256`."""

    bundle: Path
    relative: str
    size: int
    sha256: str
    executable: bool = False

    @property
    def extra_digests(self) -> tuple[str, ...]:
        """Digests computed while verifying: kubectl's `.sha512` (kuberlr fetches it)."""
        return ("sha512",) if self.relative.startswith(f"{KUBERLR_FOLDER}/") else ()


@dataclass(frozen=True)
class DigestRoute:
    """The hex digest of a bundle file (`.sha256` from the manifest, `.sha512` once verified)."""

    source: FileRoute
    algorithm: str


@dataclass(frozen=True)
class TextRoute:
    """A generated body."""

    body: bytes
    content_type: str


@dataclass(frozen=True)
class RedirectRoute:
    """A `302` to another path of the mirror (the channel redirect)."""

    target: str  # a mirror path; the server prefixes the base


@dataclass(frozen=True)
class ReleasesRoute:
    """The releases-API list, paged per request (`per_page`, `page`)."""

    releases: tuple[Mapping[str, Any], ...]


Route = FileRoute | DigestRoute | TextRoute | RedirectRoute | ReleasesRoute


def file_path(entry: BundleEntry) -> str | None:
    """The mirror path of a bundle file; None for files the mirror does not serve."""
    if entry.kind == "k3s" and entry.asset == INSTALL_SCRIPT_NAME:
        return f"{SCRIPT_PREFIX}/{entry.tag}/{INSTALL_SCRIPT_NAME}"
    if entry.kind == "k3s":
        return f"{DOWNLOAD_PREFIX}/{entry.tag}/{entry.asset}"
    if entry.kind == "kubectl":
        name = "kubectl.exe" if entry.os == "windows" else "kubectl"
        return f"{KUBECTL_PREFIX}/v{entry.version}/bin/{entry.os}/{entry.arch}/{name}"
    return None


def merge_files(bundles: Sequence[Bundle]) -> dict[str, tuple[FileRoute, BundleEntry]]:
    """Mirror path -> file, the union of all bundles; the same path with other bytes is an error."""
    merged: dict[str, tuple[FileRoute, BundleEntry]] = {}
    for bundle in bundles:
        for entry in bundle.entries:
            path = file_path(entry)
            if path is None:
                continue
            executable = entry.kind == "kubectl" or entry.asset in K3S_BINARY_NAMES
            route = FileRoute(entry.bundle, entry.path, entry.size, entry.sha256, executable)
            known = merged.get(path)
            if known is None:
                merged[path] = (route, entry)
            elif known[0].sha256 != route.sha256:
                first = known[0]
                raise MirrorError(
                    f"{path} is in two bundles with different bytes: {first.bundle} "
                    f"({first.relative}, sha256 {first.sha256}) and {route.bundle} "
                    f"({route.relative}, sha256 {route.sha256}). A mirror serves one file per "
                    "address: drop one of the bundles, or recreate it from the same upstream.",
                    path=route.bundle,
                    expected=first.sha256,
                    actual=route.sha256,
                )
    return merged


def merged_catalog(bundles: Sequence[Bundle]) -> Catalog:
    """The union of the bundles' catalogs; the channels of the most recently made bundle win."""
    catalog = Catalog(versions=())
    for bundle in sorted(bundles, key=lambda b: b.created):
        catalog = merge_catalogs(catalog, bundle.catalog)
    return catalog


def bundled_channels(catalog: Catalog, tags: Iterable[K3sTag]) -> dict[str, K3sTag]:
    """Channel name -> bundled tag; a channel whose version is not bundled is left out."""
    by_short: dict[str, K3sTag] = {}
    for tag in sorted(tags):
        by_short[tag.short] = tag  # the highest build of a patch wins
    return {name: by_short[short] for name, short in catalog.channels.items() if short in by_short}


def kubectl_stable(versions: Iterable[KubeVersion]) -> dict[str, str]:
    """`stable.txt` and `stable-1.N.txt` -> `vM.m.p`: the newest bundled release of each."""
    ordered = sorted(set(versions), key=lambda v: v.sort_key())
    answers: dict[str, str] = {}
    for version in ordered:
        answers[f"stable-{version.major}.{version.minor}.txt"] = f"v{version.short}"
    if ordered:
        answers["stable.txt"] = f"v{ordered[-1].short}"
    return answers


@dataclass(frozen=True)
class RouteTable:
    """Every path the mirror answers, and the facts the index page shows."""

    base: str
    routes: Mapping[str, Route]
    channels: Mapping[str, K3sTag]
    files: tuple[tuple[str, FileRoute], ...]


def build_routes(bundles: Sequence[Bundle], base: str) -> RouteTable:
    """The route table of a mirror at `base` serving the union of `bundles`."""
    base = base.rstrip("/")
    merged = merge_files(bundles)
    routes: dict[str, Route] = {}
    kubectls: list[KubeVersion] = []
    assets: dict[K3sTag, dict[str, FileRoute]] = {}
    scripts: dict[K3sTag, FileRoute] = {}
    for path, (route, entry) in sorted(merged.items()):
        routes[path] = route
        if entry.asset == INSTALL_SCRIPT_NAME and (tag := parse_k3s_tag(entry.tag)) is not None:
            routes[f"{path}.sha256"] = DigestRoute(route, "sha256")
            scripts[tag] = route
        elif entry.kind == "kubectl":
            routes[f"{path}.sha256"] = DigestRoute(route, "sha256")
            routes[f"{path}.sha512"] = DigestRoute(route, "sha512")
            if (version := parse_kube_version(entry.version)) is not None:
                kubectls.append(version)
        elif (tag := parse_k3s_tag(entry.tag)) is not None:
            assets.setdefault(tag, {})[entry.asset] = route
    for name, answer in kubectl_stable(kubectls).items():
        routes[f"{KUBECTL_PREFIX}/{name}"] = TextRoute(answer.encode(), TEXT)
    channels = bundled_channels(merged_catalog(bundles), assets)
    routes[CHANNELS_PATH] = TextRoute(
        documents.json_body(documents.channels_document(base, channels)), JSON
    )
    for name, tag in channels.items():
        routes[f"{CHANNELS_PATH}/{name}"] = RedirectRoute(f"{TAG_PAGE_PREFIX}/{tag}")
    for tag in assets:
        routes[f"{TAG_PAGE_PREFIX}/{tag}"] = TextRoute(documents.tag_page(str(tag)), HTML)
    created = max((b.created for b in bundles), default="")
    listed = {
        str(tag): {name: (r.size, r.sha256) for name, r in files.items()}
        for tag, files in assets.items()
    }
    routes[RELEASES_PATH] = ReleasesRoute(documents.releases(base, listed, created))
    newest = max(scripts, default=None)
    if newest is not None:
        routes[GET_K3S_PATH] = scripts[newest]
    files = tuple((path, route) for path, (route, _) in sorted(merged.items()))
    index = documents.index_page(
        base,
        [(path, route.size, route.sha256) for path, route in files],
        channels,
        [(bundle.digest, bundle.created, bundle.contents()) for bundle in bundles],
        node=documents.node_lines(base, newest, sorted(assets.get(newest, {})) if newest else []),
    )
    routes["/"] = TextRoute(index, HTML)
    return RouteTable(base, routes, channels, files)


def route_path(raw_path: str) -> str | None:
    """The decoded route key of a request path; None when it is unsafe (`..`, `.`, NUL, `\\`)."""
    try:
        path = unquote(raw_path.split("?", 1)[0], errors="strict")
    except UnicodeDecodeError:
        return None
    if not path.startswith("/") or "\0" in path or "\\" in path:
        return None
    parts = path.split("/")[1:]
    if any(part in (".", "..") for part in parts) or "//" in path:
        return None
    return path
