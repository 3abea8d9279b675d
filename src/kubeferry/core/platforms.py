"""OS and CPU names in Go's spelling, and the release file names of one arch (pure).

On the wrapper's warm path: imports only `os` and `sys`, no `platform`, `dataclasses` or
`pathlib`. The per-OS folders are in `core/layouts.py`.
"""

from __future__ import annotations

import os
import sys

OPERATING_SYSTEMS = ("linux", "darwin", "windows")
ARCHITECTURES = ("amd64", "arm64")

_OS_ALIASES = {
    "linux": "linux",
    "darwin": "darwin",
    "macos": "darwin",
    "mac": "darwin",
    "osx": "darwin",
    "windows": "windows",
    "win32": "windows",
    "win": "windows",
    "cygwin": "windows",
}
# Go's names, as kuberlr uses them: Apple silicon is arm64, never aarch64.
_ARCH_ALIASES = {
    "amd64": "amd64",
    "x86_64": "amd64",
    "x64": "amd64",
    "arm64": "arm64",
    "aarch64": "arm64",
    "arm64e": "arm64",
}


def normalize_os(name: str) -> str | None:
    """`darwin` for `macos`, `windows` for `win32`; None when unknown."""
    return _OS_ALIASES.get(name.strip().lower())


def normalize_arch(name: str) -> str | None:
    """`amd64` for `x86_64`, `arm64` for `aarch64`; None when unknown."""
    return _ARCH_ALIASES.get(name.strip().lower())


def host_os(sys_platform: str) -> str:
    """The Go OS name of a `sys.platform` value (unknown Unixes count as linux)."""
    if sys_platform.startswith("win"):
        return "windows"
    if sys_platform == "darwin":
        return "darwin"
    return "linux"


def host_arch(machine: str) -> str:
    """The Go arch name of a `platform.machine()` value (unknown ones count as amd64)."""
    return normalize_arch(machine) or "amd64"


def host_platform() -> tuple[str, str]:
    """(os, arch) of this machine in Go's names, without `platform` (it costs the warm path)."""
    if sys.platform.startswith("win"):
        machine = os.environ.get("PROCESSOR_ARCHITECTURE", "AMD64")
    else:
        machine = os.uname().machine
    return host_os(sys.platform), host_arch(machine)


class K3sAssets:
    """The release file names Rancher Desktop uses for one CPU architecture."""

    __slots__ = ("arch",)

    def __init__(self, arch: str) -> None:
        self.arch = arch

    def __eq__(self, other: object) -> bool:
        return isinstance(other, K3sAssets) and other.arch == self.arch

    def __hash__(self) -> int:
        return hash(("K3sAssets", self.arch))

    def __repr__(self) -> str:
        return f"K3sAssets({self.arch!r})"

    @property
    def binary(self) -> str:
        """`k3s` on amd64, `k3s-arm64` on arm64."""
        return "k3s" if self.arch == "amd64" else f"k3s-{self.arch}"

    @property
    def sums(self) -> str:
        """`sha256sum-<arch>.txt`."""
        return f"sha256sum-{self.arch}.txt"

    @property
    def images(self) -> tuple[str, str]:
        """Images archives, preferred first: `.tar.zst`, then `.tar`."""
        stem = f"k3s-airgap-images-{self.arch}"
        return (f"{stem}.tar.zst", f"{stem}.tar")

    @property
    def all_names(self) -> tuple[str, ...]:
        """Every name this arch may own in a version folder."""
        return (self.binary, self.sums, *self.images)


ASSET_NAMES = frozenset(name for arch in ARCHITECTURES for name in K3sAssets(arch).all_names)
"""Every file name a k3s version folder may hold, any arch."""
