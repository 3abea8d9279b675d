"""The catalog file `<cache>/k3s-versions.json`: read, write, merge, and the embedded default.

Writes are atomic and 0644. A file that cannot be read is never lost: before it is replaced it is
kept beside itself as `<name>.unreadable` (then `.unreadable.1`, `.2`, ...; never overwritten).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubeferry.catalog.rules import Catalog, catalog_to_json, merge_catalogs, parse_catalog
from kubeferry.core.layouts import CATALOG_FILE_NAME
from kubeferry.core.versions import DEFAULT_MINIMUM_VERSION, K3sTag, KubeVersion
from kubeferry.errors import CatalogError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import read_text


def read_catalog(path: Path, *, minimum: KubeVersion = DEFAULT_MINIMUM_VERSION) -> Catalog:
    """Read a catalog file; CatalogError names the file when it cannot be used."""
    text = read_text(
        path,
        missing="Run 'kubeferry catalog update' (online) or 'kubeferry bundle install' (offline) "
        "to create it.",
        error=CatalogError,
    )
    return parse_catalog(text, source=str(path), minimum=minimum)


def default_catalog() -> Catalog:
    """The catalog shipped inside the package (see scripts/regenerate_default_catalog.py)."""
    beside = Path(__file__).parent.parent / "data" / CATALOG_FILE_NAME
    if beside.is_file():  # importlib.resources (tempfile, shutil, zipfile) costs ~6 ms a start
        text = beside.read_text("utf-8")
    else:  # a zipped install
        from importlib import resources

        text = resources.files("kubeferry").joinpath("data", CATALOG_FILE_NAME).read_text("utf-8")
    return parse_catalog(text, source="the embedded default catalog")


def write_catalog(path: Path, catalog: Catalog) -> None:
    """Write a catalog atomically in Rancher Desktop's format."""
    write_text_atomically(path, catalog_to_json(catalog))


@dataclass(frozen=True)
class FileMerge:
    """What `merge_into_file` did."""

    changed: bool
    kept_aside: Path | None = None


def merge_into_file(
    path: Path, incoming: Catalog, *, fallback: Catalog, prefer: Iterable[K3sTag] = ()
) -> FileMerge:
    """Merge `incoming` into the catalog file at `path` (union; newer channels win).

    A missing or unreadable file counts as `fallback`. Nothing is written when the merge adds
    nothing; when it does, an unreadable file is first kept beside it as `<name>.unreadable`,
    never silently lost.
    """
    try:
        existing = read_catalog(path)
        readable = True
    except CatalogError:
        existing, readable = fallback, False
    merged = merge_catalogs(existing, incoming, prefer=prefer)
    if merged == existing:
        return FileMerge(False)
    kept_aside = None if readable else keep_aside(path)
    write_catalog(path, merged)
    return FileMerge(True, kept_aside)


def keep_aside(path: Path) -> Path | None:
    """Move an unreadable file to the first free `<name>.unreadable[.N]`; None when absent."""
    if not path.exists() and not path.is_symlink():
        return None
    candidate = path.with_name(f"{path.name}.unreadable")
    number = 0
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = path.with_name(f"{path.name}.unreadable.{number}")
    path.replace(candidate)
    return candidate


@dataclass(frozen=True)
class LoadedCatalog:
    """A catalog, where it came from, and what was wrong with the cache's file, if anything."""

    catalog: Catalog
    source: str
    problem: str | None = None

    @property
    def warning(self) -> str | None:
        """The sentence a command prints when it fell back to the embedded default."""
        if self.problem is None:
            return None
        return f"kubeferry: warning: {self.problem} Using the embedded default catalog."


def load_or_default(path: Path) -> LoadedCatalog:
    """The catalog at `path`, or the embedded default when it is missing or broken."""
    if path.exists() or path.is_symlink():
        try:
            return LoadedCatalog(read_catalog(path), str(path))
        except CatalogError as exc:
            return LoadedCatalog(default_catalog(), "embedded default", exc.message)
    return LoadedCatalog(default_catalog(), "embedded default")
