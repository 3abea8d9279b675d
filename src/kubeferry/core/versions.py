"""k3s tags and Kubernetes versions: parse, order, skew window (pure).

A k3s tag is `v1.30.6+k3s1` or `v1.31.3-rc2+k3s1`. Tags order by major, minor and patch
numerically, a prerelease below its release, then by the build number numerically
(`+k3s10` > `+k3s9`). A Kubernetes version is `1.30`, `1.30.6` or `v1.30.6`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kubeferry.core.skew import version_numbers

# Rancher Desktop accepts only these raw tags (k3sHelper.ts); `1.99.3+rk3s1` is not one.
_K3S_TAG: Final = re.compile(
    r"^v?(?P<major>\d{1,9})\.(?P<minor>\d{1,9})\.(?P<patch>\d{1,9})"
    r"(?:-(?P<pre>[0-9A-Za-z][0-9A-Za-z.]{0,40}))?\+k3s(?P<build>\d{1,9})$",
    re.ASCII,
)
# A cache folder name: the `v` and the build are both required, no prerelease.
CACHE_FOLDER_PATTERN: Final = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$", re.ASCII)
_NATURAL_PART: Final = re.compile(r"(\d+)", re.ASCII)


def _prerelease_key(prerelease: str) -> tuple[tuple[int, int | str], ...]:
    """Order `rc2` below `rc10`: digits compare as numbers, words as text."""
    parts: list[tuple[int, int | str]] = []
    for chunk in _NATURAL_PART.split(prerelease):
        if not chunk:
            continue
        parts.append((0, int(chunk)) if chunk.isascii() and chunk.isdigit() else (1, chunk))
    return tuple(parts)


@dataclass(frozen=True, order=False)
class KubeVersion:
    """A Kubernetes version: `1.30` (no patch) or `1.30.6`."""

    major: int
    minor: int
    patch: int | None = None

    @property
    def minor_key(self) -> tuple[int, int]:
        """(major, minor), the unit of the skew policy."""
        return (self.major, self.minor)

    @property
    def short(self) -> str:
        """`1.30.6`, or `1.30` without a patch."""
        base = f"{self.major}.{self.minor}"
        return base if self.patch is None else f"{base}.{self.patch}"

    def __str__(self) -> str:
        return self.short

    def sort_key(self) -> tuple[int, int, int]:
        """Numeric order; a version without patch sorts as patch 0."""
        return (self.major, self.minor, self.patch or 0)


@dataclass(frozen=True)
class K3sTag:
    """A k3s release tag such as `v1.30.6+k3s1`."""

    major: int
    minor: int
    patch: int
    build: int
    prerelease: str = ""

    @property
    def is_prerelease(self) -> bool:
        """True for `-rcN` and other prerelease tags."""
        return bool(self.prerelease)

    @property
    def short(self) -> str:
        """The catalog's short form: `1.30.6` (no `v`, no prerelease, no build)."""
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def minor_key(self) -> tuple[int, int]:
        """(major, minor)."""
        return (self.major, self.minor)

    @property
    def patch_key(self) -> tuple[int, int, int]:
        """(major, minor, patch): the catalog keeps one tag per patch."""
        return (self.major, self.minor, self.patch)

    def sort_key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...], int]:
        """Order of SPEC §1: numbers, prerelease below release, then build numerically."""
        release_rank = 0 if self.prerelease else 1
        return (
            self.major,
            self.minor,
            self.patch,
            release_rank,
            _prerelease_key(self.prerelease),
            self.build,
        )

    def __lt__(self, other: K3sTag) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: K3sTag) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: K3sTag) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: K3sTag) -> bool:
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        pre = f"-{self.prerelease}" if self.prerelease else ""
        return f"v{self.major}.{self.minor}.{self.patch}{pre}+k3s{self.build}"


def parse_k3s_tag(text: str) -> K3sTag | None:
    """Parse a k3s tag (`v` optional); None when it is not one."""
    match = _K3S_TAG.match(text.strip())
    if match is None:
        return None
    return K3sTag(
        major=int(match["major"]),
        minor=int(match["minor"]),
        patch=int(match["patch"]),
        build=int(match["build"]),
        prerelease=match["pre"] or "",
    )


def parse_kube_version(text: str) -> KubeVersion | None:
    """Parse `1.30`, `1.30.6` or `v1.30.6`; None when it is not one."""
    numbers = version_numbers(text)
    if numbers is None:
        return None
    return KubeVersion(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)


def is_cache_folder_name(name: str) -> bool:
    """True for a folder name Rancher Desktop treats as a cached version."""
    return CACHE_FOLDER_PATTERN.match(name) is not None


DEFAULT_MINIMUM_VERSION: Final = KubeVersion(1, 25, 3)
