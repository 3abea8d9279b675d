"""OS and CPU names, and the per-OS folders Rancher Desktop and kuberlr use (pure).

The environment, the host and the home folder are parameters, never read at import time, so a
Windows or macOS layout can be computed on Linux.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

OPERATING_SYSTEMS: Final = ("linux", "darwin", "windows")
ARCHITECTURES: Final = ("amd64", "arm64")

_OS_ALIASES: Final = {
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
_ARCH_ALIASES: Final = {
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


@dataclass(frozen=True)
class K3sAssets:
    """The release file names Rancher Desktop uses for one CPU architecture."""

    arch: str

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


def rancher_desktop_cache_dir(
    target_os: str,
    home: Path,
    environ: Mapping[str, str],
    *,
    use_environment: bool = True,
) -> Path:
    """`<cache>` of Rancher Desktop for `target_os` (SPEC §1).

    The environment (XDG_CACHE_HOME, LOCALAPPDATA, USERPROFILE) is consulted only when
    `use_environment` is true: for the host OS and the user's own home. For another OS or
    another home the folders are derived from `home`.
    """
    if target_os == "darwin":
        return home / "Library" / "Caches" / "rancher-desktop"
    if target_os == "windows":
        local = environ.get("LOCALAPPDATA", "") if use_environment else ""
        if not local and use_environment and environ.get("USERPROFILE"):
            local = str(Path(environ["USERPROFILE"]) / "AppData" / "Local")
        base = Path(local) if local else home / "AppData" / "Local"
        return base / "rancher-desktop" / "cache"
    xdg = environ.get("XDG_CACHE_HOME", "") if use_environment else ""
    base = Path(xdg) if xdg else home / ".cache"
    return base / "rancher-desktop"


def kuberlr_dir(home: Path, target_os: str, arch: str) -> Path:
    """`<home>/.kuberlr/<os>-<arch>`, where kuberlr keeps downloaded kubectl binaries."""
    return home / ".kuberlr" / f"{target_os}-{arch}"


def kubectl_file_name(version: str, target_os: str) -> str:
    """kuberlr's name for a downloaded kubectl: `kubectl1.30.6` (`.exe` on Windows)."""
    suffix = ".exe" if target_os == "windows" else ""
    return f"kubectl{version}{suffix}"
