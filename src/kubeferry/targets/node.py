"""A plain k3s node: the places k3s's air-gap install reads, under a root (`/` or `--root DIR`).

    <root>/usr/local/bin/k3s                                  the binary (0755; `k3s-arm64` too)
    <root>/var/lib/rancher/k3s/agent/images/<archive>         the airgap images (.tar.zst/.tar)
    <root>/var/lib/rancher/k3s/agent/images/kubeferry-workload-images.tar   a bundle's images
    <root>/etc/rancher/k3s/registries.yaml                    registry mirrors (targets/registries)
    <root>/var/lib/rancher/k3s/kubeferry/install.sh           k3s's install script of the release
    <root>/var/lib/rancher/k3s/kubeferry/sha256sum-<arch>.txt the release's sums file
    <root>/var/lib/rancher/k3s/kubeferry/node.json            what was installed (node check)

Each file appears on its own, atomically (a hidden name, then a rename); nothing must appear
whole, so `whole_folder` is always None. The kubeferry folder sits in k3s's data folder, so
k3s's own uninstall script removes it with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubeferry.core.layouts import INSTALL_SCRIPT_NAME, BundlePath
from kubeferry.core.platforms import K3sAssets
from kubeferry.errors import NodeError

BIN_DIR: Final = Path("usr/local/bin")
SYSTEMD_DIR: Final = Path("etc/systemd/system")
IMAGES_DIR: Final = Path("var/lib/rancher/k3s/agent/images")
STATE_DIR: Final = Path("var/lib/rancher/k3s/kubeferry")
RECORD_NAME: Final = "node.json"


@dataclass(frozen=True)
class K3sNode:
    """One node's k3s places for one release and arch."""

    root: Path
    tag: str
    arch: str

    @property
    def assets(self) -> K3sAssets:
        """The release file names of the node's arch."""
        return K3sAssets(self.arch)

    @property
    def binary(self) -> Path:
        """`<root>/usr/local/bin/k3s` (k3s's install script looks for this name on any arch)."""
        return self.root / BIN_DIR / "k3s"

    @property
    def images_dir(self) -> Path:
        """`<root>/var/lib/rancher/k3s/agent/images`: k3s imports every archive in it."""
        return self.root / IMAGES_DIR

    @property
    def kubeferry_dir(self) -> Path:
        """`<root>/var/lib/rancher/k3s/kubeferry`."""
        return self.root / STATE_DIR

    @property
    def install_script(self) -> Path:
        """The release's install.sh as placed."""
        return self.kubeferry_dir / INSTALL_SCRIPT_NAME

    @property
    def sums(self) -> Path:
        """The release's sums file as placed (node check compares against it)."""
        return self.kubeferry_dir / self.assets.sums

    @property
    def record(self) -> Path:
        """`node.json`: the tag, arch, source and digests of what was installed."""
        return self.kubeferry_dir / RECORD_NAME

    def destination(self, place: BundlePath) -> Path | None:
        """Where a bundle file goes on the node; None for other releases, arches and kubectl."""
        if place.kind != "k3s" or place.tag != self.tag:
            return None
        assets = self.assets
        if place.name == assets.binary:
            return self.binary
        if place.name in assets.images:
            return self.images_dir / place.name
        if place.name == assets.sums:
            return self.sums
        if place.name == INSTALL_SCRIPT_NAME:
            return self.install_script
        return None

    def path_of(self, name: str) -> Path:
        """Where the release file `name` (of this node's arch) goes; NodeError for others."""
        place = BundlePath("k3s", f"k3s/{self.tag}/{name}", tag=self.tag, name=name)
        found = self.destination(place)
        if found is None:
            raise NodeError(f"{name} is not a k3s release file a {self.arch} node uses.")
        return found

    def whole_folder(self, destination: Path) -> Path | None:
        """Nothing on a node must appear whole: each file is placed atomically on its own."""
        return None

    def staging_folder(self, folder: Path) -> Path:
        """Unused (no whole folders); the folder itself."""
        return folder
