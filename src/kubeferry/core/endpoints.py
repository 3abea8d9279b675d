"""Upstream addresses, each redirectable through the environment (pure).

`KUBEFERRY_MIRROR=<base>` points all five at a kubeferry mirror (`kubeferry mirror serve` or an
exported tree), whose layout keeps one path prefix per upstream host: `<base>/update.k3s.io/...`,
`<base>/api.github.com/...`, `<base>/github.com/...`, `<base>/dl.k8s.io`,
`<base>/raw.githubusercontent.com/k3s-io/k3s/<tag>/install.sh`. An explicit
`KUBEFERRY_*_URL` still wins over it, and it wins over kuberlr's `KubeMirrorUrl`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from kubeferry.core.layouts import (
    INSTALL_SCRIPT_NAME,
    kubectl_release_path,
    kubectl_stable_path,
)

DEFAULT_CHANNELS_URL: Final = "https://update.k3s.io/v1-release/channels"
DEFAULT_RELEASES_URL: Final = "https://api.github.com/repos/k3s-io/k3s/releases"
DEFAULT_K3S_DOWNLOAD_URL: Final = "https://github.com/k3s-io/k3s/releases/download"
DEFAULT_KUBECTL_MIRROR_URL: Final = "https://dl.k8s.io"
DEFAULT_K3S_INSTALL_SCRIPT_URL: Final = "https://raw.githubusercontent.com/k3s-io/k3s"
"""`<this>/<tag>/install.sh`: k3s's install script as the repository holds it at a tag."""
MIRROR_VARIABLE: Final = "KUBEFERRY_MIRROR"


def strip_scheme(url: str) -> str:
    """`dl.k8s.io/release` for `https://dl.k8s.io/release`: the mirror path of an upstream URL."""
    return url.split("://", 1)[1]


def mirror_endpoint(base: str, upstream_url: str) -> str:
    """The mirror's address for an upstream address: `https://` replaced by `<base>/`."""
    return f"{base.rstrip('/')}/{strip_scheme(upstream_url)}"


@dataclass(frozen=True)
class Endpoints:
    """Where kubeferry fetches from. Defaults are upstream; mirrors replace them."""

    channels_url: str = DEFAULT_CHANNELS_URL
    releases_url: str = DEFAULT_RELEASES_URL
    k3s_download_url: str = DEFAULT_K3S_DOWNLOAD_URL
    kubectl_mirror_url: str = DEFAULT_KUBECTL_MIRROR_URL
    k3s_install_script_url: str = DEFAULT_K3S_INSTALL_SCRIPT_URL
    github_token: str | None = None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, kube_mirror_url: str | None = None
    ) -> Endpoints:
        """Read the KUBEFERRY_* overrides; `kube_mirror_url` is kuberlr's KubeMirrorUrl."""
        base = (environ.get(MIRROR_VARIABLE) or "").strip()

        def pick(key: str, default: str) -> str:
            fallback = mirror_endpoint(base, default) if base else default
            return (environ.get(key) or fallback).rstrip("/")

        mirror = (
            kube_mirror_url or environ.get("KUBERLR_KUBEMIRRORURL") or DEFAULT_KUBECTL_MIRROR_URL
        )
        if base:  # kubeferry's own variable beats kuberlr's setting (which defaults to upstream)
            mirror = DEFAULT_KUBECTL_MIRROR_URL
        token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN") or None
        if base and not environ.get("KUBEFERRY_K3S_RELEASES_URL"):
            token = None  # a GitHub token is for GitHub, not for a mirror derived from it
        return cls(
            channels_url=pick("KUBEFERRY_K3S_CHANNELS_URL", DEFAULT_CHANNELS_URL),
            releases_url=pick("KUBEFERRY_K3S_RELEASES_URL", DEFAULT_RELEASES_URL),
            k3s_download_url=pick("KUBEFERRY_K3S_DOWNLOAD_URL", DEFAULT_K3S_DOWNLOAD_URL),
            kubectl_mirror_url=pick("KUBEFERRY_KUBECTL_MIRROR_URL", mirror),
            k3s_install_script_url=pick(
                "KUBEFERRY_K3S_INSTALL_SCRIPT_URL", DEFAULT_K3S_INSTALL_SCRIPT_URL
            ),
            github_token=token,
        )

    def k3s_asset_url(self, tag: str, asset: str) -> str:
        """`<base>/<tag>/<asset>`, with the `+` of the tag literal as Rancher Desktop sends it."""
        return f"{self.k3s_download_url}/{tag}/{asset}"

    def k3s_install_script(self, tag: str) -> str:
        """`<base>/<tag>/install.sh`: the install script of the k3s repository at `tag`."""
        return f"{self.k3s_install_script_url}/{tag}/{INSTALL_SCRIPT_NAME}"

    def kubectl_url(self, version: str, target_os: str, arch: str) -> str:
        """`<mirror>/release/v<M.m.p>/bin/<os>/<arch>/kubectl[.exe]`."""
        return f"{self.kubectl_mirror_url}/{kubectl_release_path(version, target_os, arch)}"

    def kubectl_stable_url(self, minor: str | None = None) -> str:
        """`stable.txt`, or `stable-<M.m>.txt` for the newest patch of a minor."""
        return f"{self.kubectl_mirror_url}/{kubectl_stable_path(minor)}"
