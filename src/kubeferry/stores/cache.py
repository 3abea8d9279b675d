"""The Rancher Desktop k3s cache: `<cache>/k3s/<tag>/` folders, their state and removal.

A version is cached for an arch when its binary, an images archive (`.tar.zst` preferred,
else `.tar`) and `sha256sum-<arch>.txt` are present and the binary and the images match the
sums file. k3s's `install.sh` beside them is optional (older folders lack it, Rancher Desktop
never reads it); `has_install_script` says whether it is there. Filling and repairing
folders lives in `cache_fill.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from kubeferry.core.layouts import INSTALL_SCRIPT_NAME
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.versions import K3sTag, is_cache_folder_name, parse_k3s_tag
from kubeferry.errors import KubeferryError, NotFoundError, SumsFileError
from kubeferry.files.textfiles import read_bytes


class State(StrEnum):
    """The state of one version folder for one arch."""

    OK = "ok"
    INCOMPLETE = "incomplete"
    CORRUPT = "corrupt"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a cached file."""

    file: str
    message: str
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True)
class CachedVersion:
    """What one `<cache>/k3s/<tag>/` folder holds for one arch."""

    tag: K3sTag
    arch: str
    folder: Path
    state: State
    images_name: str | None
    size: int
    problems: tuple[Problem, ...] = ()

    @property
    def images_format(self) -> str | None:
        """`tar.zst` or `tar`, from the images file name."""
        if self.images_name is None:
            return None
        return "tar.zst" if self.images_name.endswith(".tar.zst") else "tar"

    @property
    def has_install_script(self) -> bool:
        """k3s's `install.sh` is in the folder (optional: folders of older kubeferry lack it)."""
        return (self.folder / INSTALL_SCRIPT_NAME).is_file()

    @property
    def bad_files(self) -> tuple[str, ...]:
        """Names of the files that are missing or wrong."""
        return tuple(dict.fromkeys(problem.file for problem in self.problems))


def k3s_root(cache_dir: Path) -> Path:
    """`<cache>/k3s`."""
    return cache_dir / "k3s"


def version_folders(cache_dir: Path) -> list[tuple[K3sTag, Path]]:
    """Every folder Rancher Desktop counts as a cached version, ascending (no `tmp-` ones)."""
    root = k3s_root(cache_dir)
    if not root.is_dir():
        return []
    found: list[tuple[K3sTag, Path]] = []
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink() and is_cache_folder_name(entry.name):
            tag = parse_k3s_tag(entry.name)
            if tag is not None:
                found.append((tag, entry))
    return sorted(found, key=lambda item: item[0].sort_key())


def present_images(folder: Path, assets: K3sAssets) -> str | None:
    """The images archive Rancher Desktop would use: `.tar.zst` first, then `.tar`."""
    return next((name for name in assets.images if (folder / name).is_file()), None)


def _present_size(folder: Path, names: list[str]) -> int:
    return sum((folder / name).stat().st_size for name in names if (folder / name).is_file())


def inspect_folder(tag: K3sTag, folder: Path, arch: str, *, verify: bool = True) -> CachedVersion:
    """The state of `folder` for `arch`; with `verify` the binary and images are hashed."""
    assets = K3sAssets(arch)
    images = present_images(folder, assets)
    needed = [assets.binary, images or assets.images[0]]
    size = _present_size(folder, [assets.binary, assets.sums, *(n for n in [images] if n)])
    problems: list[Problem] = []
    sums_path = folder / assets.sums
    if not sums_path.is_file():
        problems.append(Problem(assets.sums, f"{assets.sums} is missing"))
    for name in needed:
        if not (folder / name).is_file():
            what = "no images archive (.tar.zst or .tar)" if name == needed[1] else name
            problems.append(Problem(name, f"{what} is missing"))
    if problems:
        return CachedVersion(tag, arch, folder, State.INCOMPLETE, images, size, tuple(problems))
    # hashlib (OpenSSL) loads only when there is a complete folder to check
    from kubeferry.files.hashing import sha256_file
    from kubeferry.verification.sums import parse_sums

    try:
        data = read_bytes(sums_path, missing="", error=SumsFileError)  # no links, no FIFOs
        digests = parse_sums(data.decode("utf-8", errors="replace"), source=str(sums_path))
    except SumsFileError as exc:
        problem = Problem(assets.sums, exc.message)
        return CachedVersion(tag, arch, folder, State.CORRUPT, images, size, (problem,))
    for name in needed:
        expected = digests.get(name)
        if expected is None:
            message = f"{name} is not listed in {assets.sums}"
            problems.append(Problem(name, message))
            continue
        if verify:
            try:
                actual = sha256_file(folder / name)  # refuses a link or FIFO
            except KubeferryError as exc:
                problems.append(Problem(name, exc.message))
                continue
            if actual != expected:
                message = f"{name} has sha256 {actual}, {assets.sums} says {expected}"
                problems.append(Problem(name, message, expected=expected, actual=actual))
    state = State.CORRUPT if problems else State.OK
    return CachedVersion(tag, arch, folder, state, images, size, tuple(problems))


def holds_arch(folder: Path, arch: str) -> bool:
    """True when the folder has any file of `arch`."""
    return any((folder / name).exists() for name in K3sAssets(arch).all_names)


def list_cached(
    cache_dir: Path, arches: tuple[str, ...], *, verify: bool = True
) -> list[CachedVersion]:
    """Every version folder, for each arch that has files in it (the first arch always)."""
    reports: list[CachedVersion] = []
    for tag, folder in version_folders(cache_dir):
        for index, arch in enumerate(arches):
            if index == 0 or holds_arch(folder, arch):
                reports.append(inspect_folder(tag, folder, arch, verify=verify))
    return reports


def verified_tags(cache_dir: Path, arch: str) -> list[K3sTag]:
    """Tags whose folder is complete and verified for `arch`, ascending."""
    return [report.tag for report in list_cached(cache_dir, (arch,)) if report.state is State.OK]


def cached_folder_tags(cache_dir: Path) -> list[K3sTag]:
    """Tags that have a cache folder at all (no hashing)."""
    return [tag for tag, _ in version_folders(cache_dir)]


def remove_version(cache_dir: Path, tag_text: str) -> Path:
    """Delete `<cache>/k3s/<tag>`; NotFoundError when there is no such folder."""
    tag = parse_k3s_tag(tag_text)
    if tag is None or tag.is_prerelease:
        raise KubeferryError(
            f"{tag_text!r} is not a k3s tag like v1.30.6+k3s1; 'kubeferry cache list' shows "
            "the cached tags."
        )
    folder = k3s_root(cache_dir) / str(tag)
    if not folder.is_dir() or folder.is_symlink():
        raise NotFoundError(
            f"{folder} does not exist: {tag} is not cached. 'kubeferry cache list' shows "
            "the cached tags.",
            path=folder,
        )
    import shutil  # bz2, lzma and zlib come with it: only for a removal

    shutil.rmtree(folder)
    return folder
