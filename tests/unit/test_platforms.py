"""OS/arch names and the per-OS folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeferry.core.kuberlr import kubectl_file_name
from kubeferry.core.layouts import kuberlr_dir, rancher_desktop_cache_dir
from kubeferry.core.platforms import K3sAssets, host_arch, host_os, normalize_arch

HOME = Path("/home/me")


@pytest.mark.parametrize(
    ("target", "environ", "use_env", "expected"),
    [
        ("linux", {}, True, HOME / ".cache" / "rancher-desktop"),
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, True, Path("/xdg/rancher-desktop")),
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, False, HOME / ".cache" / "rancher-desktop"),
        ("darwin", {"XDG_CACHE_HOME": "/xdg"}, True, HOME / "Library/Caches/rancher-desktop"),
        (
            "windows",
            {"LOCALAPPDATA": "/c/Users/me/AppData/Local"},
            True,
            Path("/c/Users/me/AppData/Local/rancher-desktop/cache"),
        ),
        (
            "windows",
            {"USERPROFILE": "/c/Users/me"},
            True,
            Path("/c/Users/me/AppData/Local/rancher-desktop/cache"),
        ),
        (
            "windows",
            {"LOCALAPPDATA": "/elsewhere"},
            False,
            HOME / "AppData/Local/rancher-desktop/cache",
        ),
    ],
    ids=[
        "linux-default",
        "linux-xdg",
        "linux-other-home",
        "darwin",
        "windows-localappdata",
        "windows-userprofile-fallback",
        "windows-from-linux",
    ],
)
def test_cache_dir(target: str, environ: dict[str, str], use_env: bool, expected: Path) -> None:
    assert rancher_desktop_cache_dir(target, HOME, environ, use_environment=use_env) == expected


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "amd64"), ("AMD64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")],
    ids=str,
)
def test_host_arch(machine: str, arch: str) -> None:
    assert host_arch(machine) == arch


@pytest.mark.parametrize(
    ("platform", "name"), [("linux", "linux"), ("darwin", "darwin"), ("win32", "windows")], ids=str
)
def test_host_os(platform: str, name: str) -> None:
    assert host_os(platform) == name


def test_apple_silicon_is_arm64_not_aarch64() -> None:
    assert kuberlr_dir(HOME, "darwin", normalize_arch("aarch64") or "") == (
        HOME / ".kuberlr" / "darwin-arm64"
    )


def test_kubectl_names() -> None:
    assert kubectl_file_name("1.30.6", "linux") == "kubectl1.30.6"
    assert kubectl_file_name("1.30.6", "windows") == "kubectl1.30.6.exe"


@pytest.mark.parametrize(
    ("arch", "binary", "sums", "images"),
    [
        ("amd64", "k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst"),
        ("arm64", "k3s-arm64", "sha256sum-arm64.txt", "k3s-airgap-images-arm64.tar.zst"),
    ],
    ids=str,
)
def test_k3s_asset_names(arch: str, binary: str, sums: str, images: str) -> None:
    assets = K3sAssets(arch)
    assert (assets.binary, assets.sums, assets.images[0]) == (binary, sums, images)
    assert assets.images[1] == images.removesuffix(".zst")
