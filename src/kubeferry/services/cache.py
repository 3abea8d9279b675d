"""`cache list|verify|add|remove` as services over stores/cache.py and stores/cache_fill.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeferry.catalog.file import FileMerge, default_catalog, merge_into_file
from kubeferry.catalog.rules import Catalog, resolve_k3s_spec
from kubeferry.core.versions import K3sTag
from kubeferry.errors import OfflineError
from kubeferry.services.common import catalog_in_use, network
from kubeferry.settings import Settings
from kubeferry.stores.cache import CachedVersion, State, list_cached, remove_version
from kubeferry.stores.leftovers import Leftover, find_leftovers, remove_leftovers
from kubeferry.stores.lock import hold, hold_all

if TYPE_CHECKING:  # `cache list` is local: the download stack loads only to fetch
    import httpx

    from kubeferry.jobs.progress import ProgressFactory
    from kubeferry.stores.cache_fill import Filler, FillResult


def cache_lock(settings: Settings) -> AbstractContextManager[Path | None]:
    """The cache's lock: one writing run at a time; a second one says it waits."""
    return hold(
        settings.cache_dir, announce=settings.announce, what=f"the cache {settings.cache_dir}"
    )


def _no_progress(label: str) -> None:
    return None


def _filler(settings: Settings, client: httpx.Client, progress: ProgressFactory) -> Filler:
    """The one way a service fills the cache: the settings' endpoints, folder and connections."""
    from kubeferry.stores.cache_fill import Filler

    return Filler(
        client, settings.endpoints, settings.cache_dir, progress, connections=settings.connections
    )


def version_dict(report: CachedVersion, listed: bool) -> dict[str, Any]:
    """JSON form of one folder's state."""
    return {
        "tag": str(report.tag),
        "arch": report.arch,
        "state": report.state.value,
        "listed": listed,
        "images": report.images_format,
        "size": report.size,
        "folder": str(report.folder),
        "install_script": report.has_install_script,
        "problems": [
            {"file": p.file, "message": p.message, "expected": p.expected, "actual": p.actual}
            for p in report.problems
        ],
    }


def fill_result_dict(result: FillResult) -> dict[str, Any]:
    """JSON form of a FillResult."""
    return {
        "tag": str(result.tag),
        "arch": result.arch,
        "folder": str(result.folder),
        "files": list(result.downloaded),
        "fetched_bytes": result.fetched_bytes,
        "already_cached": result.already_cached,
    }


@dataclass(frozen=True)
class CacheState:
    """The cached versions, which the catalog lists, and (after verify) what was repaired."""

    cache_dir: Path
    versions: tuple[CachedVersion, ...]
    listed: frozenset[str]
    repaired: tuple[FillResult, ...] | None = None
    leftovers: tuple[Leftover, ...] = ()
    catalog_warning: str | None = None

    @property
    def bad(self) -> list[CachedVersion]:
        """Versions that are not complete and verified."""
        return [r for r in self.versions if r.state is not State.OK]

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`cache list` without `ok`/`repaired`, `cache verify` with them)."""
        data: dict[str, Any] = {"cache_dir": str(self.cache_dir)}
        if self.repaired is not None:
            data["ok"] = not self.bad
            data["repaired"] = [fill_result_dict(r) for r in self.repaired]
        data["versions"] = [version_dict(r, str(r.tag) in self.listed) for r in self.versions]
        data["leftovers"] = [item.as_dict() for item in self.leftovers]
        return data


def _listed_tags(settings: Settings) -> tuple[frozenset[str], str | None]:
    loaded = catalog_in_use(settings)
    return frozenset(str(tag) for tag in loaded.catalog.versions), loaded.warning


def list_cache(settings: Settings) -> CacheState:
    """Every cached version with arch, images format, size and state (hashes checked)."""
    reports = tuple(list_cached(settings.cache_dir, settings.arches))
    left = tuple(find_leftovers(settings.cache_dir, kuberlr_dirs(settings)))
    listed, warning = _listed_tags(settings)
    return CacheState(settings.cache_dir, reports, listed, leftovers=left, catalog_warning=warning)


def kuberlr_dirs(settings: Settings) -> tuple[Path, ...]:
    """The kuberlr folders of the target arches."""
    return tuple(settings.kuberlr_dir(arch) for arch in settings.arches)


@dataclass(frozen=True)
class Cleaned:
    """What `cache clean` removed."""

    cache_dir: Path
    removed: tuple[Leftover, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`cache clean --json`)."""
        return {
            "cache_dir": str(self.cache_dir),
            "removed": [item.as_dict() for item in self.removed],
            "freed_bytes": sum(item.size for item in self.removed),
        }


def clean_cache(settings: Settings) -> Cleaned:
    """Remove partial downloads, temporary files and staging folders; nothing else."""
    with (
        cache_lock(settings),
        hold_all(
            [(folder, f"the kuberlr folder {folder}") for folder in kuberlr_dirs(settings)],
            announce=settings.announce,
        ),
    ):
        found = find_leftovers(settings.cache_dir, kuberlr_dirs(settings))
        return Cleaned(settings.cache_dir, tuple(remove_leftovers(found)))


def verify_cache(
    settings: Settings, *, repair: bool, progress: ProgressFactory = _no_progress
) -> CacheState:
    """Re-hash every cached version; with `repair`, download again what is bad first."""
    state = list_cache(settings)
    repaired: tuple[FillResult, ...] = ()
    if repair and state.bad:
        with cache_lock(settings):
            state = list_cache(settings)  # another run may have repaired it meanwhile
            repaired = tuple(repair_versions(settings, state.bad, progress=progress))
        state = list_cache(settings)
    return replace(state, repaired=repaired)


def repair_versions(
    settings: Settings, reports: list[CachedVersion], *, progress: ProgressFactory = _no_progress
) -> list[FillResult]:
    """Download again what is bad; offline, say exactly what to bring and from where."""
    from kubeferry.stores.cache_fill import repair_advice

    if settings.offline:
        lines = []
        for report in reports:
            for url, destination in repair_advice(report, settings.endpoints):
                lines.append(f"  {url}\n    -> {destination}")
        raise OfflineError(
            "offline mode is on, so nothing was downloaded. On a connected machine fetch these "
            "files and place them as shown (or run 'kubeferry bundle create' there and "
            "'kubeferry bundle install' here):\n" + "\n".join(lines)
        )
    with network(settings, settings.endpoints.k3s_download_url) as client:
        filler = _filler(settings, client, progress)
        # The reports already hold what is bad: no second hashing before the repair.
        return [filler.repair(report) for report in reports]


@dataclass(frozen=True)
class AddResult:
    """What `cache add` did."""

    cache_dir: Path
    catalog_path: Path
    results: tuple[FillResult, ...]
    merge: FileMerge = field(default_factory=lambda: FileMerge(False))
    catalog_warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        kept = self.merge.kept_aside
        return {
            "cache_dir": str(self.cache_dir),
            "catalog_updated": self.merge.changed,
            "unreadable_catalog_kept_as": str(kept) if kept else None,
            "versions": [fill_result_dict(r) for r in self.results],
        }


def resolve_specs(catalog: Catalog, specs: tuple[str, ...], source: str) -> list[K3sTag]:
    """Tags for `1.30`, `1.30.6`, a tag or a channel, in order, without repeats."""
    tags: list[K3sTag] = []
    for spec in specs:
        tag = resolve_k3s_spec(catalog, spec, source=source)
        if tag not in tags:
            tags.append(tag)
    return tags


def add_versions(
    settings: Settings, specs: tuple[str, ...], *, progress: ProgressFactory = _no_progress
) -> AddResult:
    """Download k3s versions into the cache, verified, and list them in the catalog."""
    from kubeferry.jobs.parallel import run_parallel

    loaded = catalog_in_use(settings)
    tags = resolve_specs(loaded.catalog, specs, loaded.source)
    by_tag = {tag: list(settings.arches) for tag in tags}
    with cache_lock(settings), network(settings, settings.endpoints.k3s_download_url) as client:
        filler = _filler(settings, client, progress)

        # Two tags at a time; a tag's arches one after another (they share its folder).
        def fill_tag(tag: K3sTag) -> Callable[[], list[FillResult]]:
            return lambda: [filler.fill(tag, arch) for arch in by_tag[tag]]

        groups = run_parallel([fill_tag(tag) for tag in by_tag], workers=2, cancel=settings.cancel)
        merge = merge_into_file(
            settings.catalog_path,
            Catalog(versions=tuple(tags)),
            fallback=default_catalog(),
            prefer=tags,
        )
    results = tuple(result for group in groups for result in group)
    return AddResult(settings.cache_dir, settings.catalog_path, results, merge, loaded.warning)


def remove_cached(settings: Settings, tag: str) -> Path:
    """Delete one cached version folder; its path."""
    with cache_lock(settings):
        return remove_version(settings.cache_dir, tag)
