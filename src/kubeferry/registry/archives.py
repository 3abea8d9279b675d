"""Where the k3s airgap images archives are: a file, a bundle folder, or a cached k3s version.

Folders are read by the layout `core/layouts.py` owns (`k3s/<tag>/k3s-airgap-images-<arch>.*`),
not by a glob of their own: what `bundle install` would place is what is pushed.
"""

from __future__ import annotations

from pathlib import Path

from kubeferry.core.layouts import k3s_bundle_path, k3s_root, parse_bundle_path
from kubeferry.core.platforms import K3sAssets
from kubeferry.errors import NotFoundError


def archives_in_folder(folder: Path) -> list[Path]:
    """A bundle's (or cache's) images archives: one per tag and arch, the `.tar` preferred."""
    chosen: dict[tuple[Path, str], Path] = {}
    root = k3s_root(folder)
    tags = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    for tag in tags:
        for path in sorted((root / tag).glob("*")) if (root / tag).is_dir() else ():
            place = parse_bundle_path(k3s_bundle_path(tag, path.name))
            if place is None or place.kind != "k3s" or place.arch is None:
                continue
            if place.name not in K3sAssets(place.arch).images:
                continue
            if path.is_symlink() or not path.is_file():
                continue
            # .tar and .tar.zst hold the same images; the .tar is read with seeks, in parallel
            if (path.parent, place.arch) not in chosen or path.name.endswith(".tar"):
                chosen[(path.parent, place.arch)] = path
    return list(chosen.values())


def cached_archives(cache_dir: Path, arches: tuple[str, ...], tag: str) -> list[Path]:
    """The images archive of each arch of the cached k3s version `tag` (`v` optional)."""
    root = k3s_root(cache_dir)
    folder = root / tag
    if not folder.is_dir() and not tag.startswith("v"):
        folder = root / f"v{tag}"
    found = []
    for arch in arches:
        for name in reversed(K3sAssets(arch).images):  # .tar first, then .tar.zst
            if (folder / name).is_file():
                found.append(folder / name)
                break
    if not found:
        cached = sorted(p.name for p in root.glob("*") if p.is_dir())
        raise NotFoundError(
            f"{tag!r} is not a file, a folder, or a k3s version with an images archive for "
            f"{', '.join(arches)} in {root} (cached: {', '.join(cached) or 'none'}). "
            "Give an archive or a bundle folder, or fill the cache first ('kubeferry cache add').",
            path=folder,
        )
    return found


def resolve_archives(
    sources: tuple[str, ...], cache_dir: Path, arches: tuple[str, ...]
) -> list[Path]:
    """TAG (cached version), DIR (bundle folder) or FILE (an archive) -> archives, once each."""
    archives: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_file():
            archives.append(path)
        elif path.is_dir():
            found = archives_in_folder(path)
            if not found:
                raise NotFoundError(
                    f"{path} holds no k3s/<tag>/k3s-airgap-images-* archive. Give a bundle "
                    "folder, an archive file, or a cached k3s version.",
                    path=path,
                )
            archives += found
        else:
            archives += cached_archives(cache_dir, arches, source)
    return list(dict.fromkeys(archives))
