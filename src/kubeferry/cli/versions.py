"""`kubeferry versions`: the k3s versions a user can pick now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from kubeferry.catalog.rules import Catalog
from kubeferry.cli.catalog import load_catalog
from kubeferry.cli.kubectl import kuberlr_config
from kubeferry.cli.render import emit, table
from kubeferry.core.kuberlr import all_binaries
from kubeferry.core.skew import Binary, choose, format_version
from kubeferry.core.versions import K3sTag
from kubeferry.settings import Settings
from kubeferry.stores.cache import verified_tags

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class VersionChoice:
    """One row of the version list."""

    tag: K3sTag
    channels: tuple[str, ...]
    cached: bool
    listed: bool
    kubectl: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "tag": str(self.tag),
            "version": self.tag.short,
            "channels": list(self.channels),
            "cached": self.cached,
            "listed": self.listed,
            "kubectl": self.kubectl,
        }


def available_versions(
    catalog: Catalog,
    cached: list[K3sTag],
    *,
    offline: bool,
    kubectls: list[Binary] | None = None,
) -> list[VersionChoice]:
    """Online: the catalog. Offline: only cached tags, listed or not. Newest first."""
    labels = catalog.labels_by_short()
    cached_set = set(cached)
    listed = {tag.short: tag for tag in catalog.versions}
    if offline:
        chosen = list(cached)
    else:
        chosen = list(catalog.versions) + [t for t in cached if listed.get(t.short) != t]
    choices = [
        VersionChoice(
            tag=tag,
            channels=tuple(labels.get(tag.short, ()) if listed.get(tag.short) == tag else ()),
            cached=tag in cached_set,
            listed=listed.get(tag.short) == tag,
            kubectl=_fitting(tag, kubectls or []),
        )
        for tag in chosen
    ]
    return sorted(choices, key=lambda choice: choice.tag.sort_key(), reverse=True)


def _fitting(tag: K3sTag, kubectls: list[Binary]) -> str | None:
    found = choose((tag.major, tag.minor, tag.patch), kubectls)
    return format_version(found[0]) if found else None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def versions(settings: Settings, as_json: bool) -> None:
    """List the k3s versions to choose from (offline: only verified cached ones)."""
    catalog, source = load_catalog(settings)
    cached = verified_tags(settings.cache_dir, settings.arch)
    config = kuberlr_config(settings)
    binaries = all_binaries(
        str(settings.kuberlr_dir()), config.system_path, windows=settings.target_os == "windows"
    )
    choices = available_versions(catalog, cached, offline=settings.offline, kubectls=binaries)
    data = {
        "offline": settings.offline,
        "catalog": source,
        "cache_dir": str(settings.cache_dir),
        "arch": settings.arch,
        "versions": [choice.as_dict() for choice in choices],
    }

    def draw(console: Console) -> None:
        mode = "offline: cached versions only" if settings.offline else "online"
        console.print(f"k3s versions ({mode}; catalog: {source}; arch {settings.arch})")
        rows = [
            (
                str(c.tag),
                ", ".join(c.channels),
                "yes" if c.cached else "",
                c.kubectl or "",
                "" if c.listed else "not in catalog",
            )
            for c in choices
        ]
        console.print(table(("VERSION", "CHANNELS", "CACHED", "KUBECTL", "NOTE"), rows))
        if settings.offline and not choices:
            console.print(
                f"no verified version in {settings.cache_dir / 'k3s'}; "
                "run 'kubeferry bundle install' or 'kubeferry cache add' first"
            )

    emit(data, as_json=as_json, text=draw)
