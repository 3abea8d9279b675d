"""Every path and URL kubeferry knows, both ways: build one, or parse one back (pure).

    <cache>/k3s-versions.json                        Rancher Desktop's catalog
    <cache>/k3s/<tag>/<asset>                        Rancher Desktop's k3s cache
    <cache>/k3s/<tag>/install.sh                     k3s's install script at that tag (optional)
    <home>/.kuberlr/<os>-<arch>/kubectl<M.m.p>[.exe] kuberlr's folder
    <bundle>/kubeferry-bundle.json                   a bundle's manifest
    <bundle>/k3s-versions.json, k3s/<tag>/<asset>    the cache layout inside a bundle
    <bundle>/kuberlr/<os>-<arch>/kubectl<M.m.p>      the kuberlr layout inside a bundle
    <bundle>/images/oci-layout, index.json, blobs/sha256/<hex>   workload images (OCI layout)
    <mirror>/release/v<M.m.p>/bin/<os>/<arch>/kubectl[.exe]   dl.k8s.io's layout
    <download base>/<tag>/<asset>                    GitHub's release download layout
    <script base>/<tag>/install.sh                   raw.githubusercontent.com/k3s-io/k3s layout

The environment, the host and the home folder are parameters, never read at import time, so a
Windows or macOS layout can be computed on Linux.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubeferry.core import kuberlr
from kubeferry.core.platforms import ARCHITECTURES, ASSET_NAMES, OPERATING_SYSTEMS, K3sAssets

CATALOG_FILE_NAME: Final = "k3s-versions.json"
MANIFEST_NAME: Final = "kubeferry-bundle.json"
LOCK_NAME: Final = ".kubeferry.lock"
"""One run per target folder: the lock file `stores/lock.py` holds in it."""
K3S_FOLDER: Final = "k3s"
KUBERLR_FOLDER: Final = "kuberlr"
IMAGES_FOLDER: Final = "images"
IMAGES_LAYOUT_FILES: Final = ("oci-layout", "index.json")
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
INSTALL_SCRIPT_NAME: Final = "install.sh"
"""k3s's install script, carried in each version folder beside the release files (any arch)."""
K3S_REGISTRIES_PATH: Final = Path("etc/rancher/k3s/registries.yaml")
"""Where k3s reads its registry mirrors, relative to the node's root."""
WINDOWS_PROVISIONING_SCRIPT: Final = "kubeferry-registries.start"
STAGING_SUFFIX: Final = "-kubeferry"
"""RD's own staging folders are `tmp-<tag>`; ours are `tmp-<tag>-kubeferry` (ignored by RD)."""


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


def rancher_desktop_provisioning_path(
    target_os: str, home: Path, environ: Mapping[str, str]
) -> Path:
    """The provisioning file Rancher Desktop applies on `target_os` (Lima's override.yaml, or a
    `.start` script on Windows)."""
    if target_os == "windows":
        local = environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(local) / "rancher-desktop" / "provisioning" / WINDOWS_PROVISIONING_SCRIPT
    if target_os == "darwin":
        base = home / "Library" / "Application Support" / "rancher-desktop"
    else:
        data = environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
        base = Path(data) / "rancher-desktop"
    return base / "lima" / "_config" / "override.yaml"


def kuberlr_dir(home: Path, target_os: str, arch: str) -> Path:
    """`<home>/.kuberlr/<os>-<arch>` (the wrapper's own rule, as a Path)."""
    return Path(kuberlr.folder(str(home), target_os, arch))


def k3s_root(cache_dir: Path) -> Path:
    """`<cache>/k3s`, the folder of cached versions."""
    return cache_dir / K3S_FOLDER


def staging_folder_name(tag: str) -> str:
    """`tmp-<tag>-kubeferry`: where a version is assembled before it is renamed into place."""
    return f"tmp-{tag}{STAGING_SUFFIX}"


def k3s_bundle_path(tag: str, asset: str) -> str:
    """`k3s/<tag>/<asset>` inside a bundle (the cache's own relative layout)."""
    return f"{K3S_FOLDER}/{tag}/{asset}"


def kubectl_bundle_path(version: str, target_os: str, arch: str) -> str:
    """`kuberlr/<os>-<arch>/kubectl<M.m.p>[.exe]` inside a bundle."""
    name = kuberlr.kubectl_file_name(version, target_os)
    return f"{KUBERLR_FOLDER}/{target_os}-{arch}/{name}"


def kubectl_release_path(version: str, target_os: str, arch: str) -> str:
    """`release/v<M.m.p>/bin/<os>/<arch>/kubectl[.exe]` under a dl.k8s.io-style mirror."""
    name = "kubectl.exe" if target_os == "windows" else "kubectl"
    return f"release/v{version}/bin/{target_os}/{arch}/{name}"


def kubectl_stable_path(minor: str | None = None) -> str:
    """`release/stable.txt`, or `release/stable-<M.m>.txt` for the newest patch of a minor."""
    return f"release/stable-{minor}.txt" if minor else "release/stable.txt"


PLACE_SUFFIX: Final = ".kubeferry-install"
"""`.<name>.kubeferry-install`: the hidden name a file is copied to before its rename."""
INSTALL_PURPOSE: Final = "-install"
"""`bundle install` stages a version as `tmp-<tag>-kubeferry-install`, apart from `cache add`'s
resumable `tmp-<tag>-kubeferry`."""

K3S_BINARY_NAMES: Final = frozenset({"k3s", "k3s-arm64"})
"""The k3s binary of each arch (`K3sAssets.binary`)."""


@dataclass(frozen=True)
class BundlePath:
    """A bundle-relative path, parsed: what it is and where it goes."""

    kind: str
    """`catalog`, `k3s`, `kubectl` or `image` (the OCI layout under `images/`)."""
    path: str
    tag: str | None = None
    version: str | None = None
    os: str | None = None
    arch: str | None = None
    name: str = ""

    def as_dict(self) -> dict[str, str | None]:
        """The fields that apply, for JSON."""
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}

    @property
    def executable(self) -> bool:
        """A program (kubectl, the k3s binary): placed 0755, served as such."""
        return self.kind == "kubectl" or (self.kind == "k3s" and self.name in K3S_BINARY_NAMES)


def split_relative_path(path: str) -> tuple[str, ...] | None:
    """The parts of a relative POSIX path without `..`, `.`, empty parts, `\\`, NUL or drive."""
    if not path or path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return None
    if "\\" in path or "\0" in path:
        return None
    parts = tuple(path.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        return None
    return parts


def image_blob_path(digest: str) -> str:
    """`images/blobs/sha256/<hex>` inside a bundle for a `sha256:<hex>` digest."""
    return f"{IMAGES_FOLDER}/blobs/{digest.replace(':', '/', 1)}"


def _image_path(path: str, parts: tuple[str, ...]) -> BundlePath | None:
    """`images/oci-layout`, `images/index.json` or `images/blobs/sha256/<64 hex>`."""
    if len(parts) == 2 and parts[1] in IMAGES_LAYOUT_FILES:
        return BundlePath("image", path, name=parts[1])
    if len(parts) == 4 and parts[1:3] == ("blobs", "sha256"):
        hexdigest = parts[3]
        if len(hexdigest) == 64 and set(hexdigest) <= _HEX_DIGITS:
            return BundlePath("image", path, name=f"sha256:{hexdigest}")
    return None


def parse_bundle_path(path: str) -> BundlePath | None:
    """A bundle path kubeferry writes, parsed; None for anything else (unsafe ones included)."""
    # Here, not at import: settings reach this module, and `version` needs no tag parsing.
    from kubeferry.core.versions import is_cache_folder_name

    parts = split_relative_path(path)
    if parts is None:
        return None
    if parts == (CATALOG_FILE_NAME,):
        return BundlePath("catalog", path, name=CATALOG_FILE_NAME)
    if parts[0] == IMAGES_FOLDER:
        return _image_path(path, parts)
    if len(parts) != 3:
        return None
    top, middle, name = parts
    if top == K3S_FOLDER and is_cache_folder_name(middle) and name == INSTALL_SCRIPT_NAME:
        return BundlePath("k3s", path, tag=middle, name=name)
    if top == K3S_FOLDER and is_cache_folder_name(middle) and name in ASSET_NAMES:
        arch = _asset_arch(name)
        return BundlePath("k3s", path, tag=middle, arch=arch, name=name)
    if top == KUBERLR_FOLDER:
        os_name, _, arch = middle.partition("-")
        windows = os_name == "windows"
        version = kuberlr.parse_binary_name(name, windows=windows)
        if (
            os_name in OPERATING_SYSTEMS
            and arch in ARCHITECTURES
            and version is not None
            and name.endswith(".exe") == windows
        ):
            short = name.removeprefix("kubectl").removesuffix(".exe")
            return BundlePath("kubectl", path, version=short, os=os_name, arch=arch, name=name)
    return None


def _asset_arch(name: str) -> str:
    return next(arch for arch in ARCHITECTURES if name in K3sAssets(arch).all_names)
