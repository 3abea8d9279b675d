"""`kubeferry node check`: is this node (or `--root DIR`) ready for k3s's air-gap start?

What is placed, whether the binary, images archive and install script are the release's that
`node.json` names (binary and archive against the placed sums file, install.sh against the
digest recorded at install), whether registries.yaml parses and which mirrors it names, whether
`agent/images/` holds archives of another release (k3s imports every archive there), and
whether the install script has run (a `k3s*.service` in the systemd folder). Each gap comes
with the command that fixes it.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeferry.core.layouts import INSTALL_SCRIPT_NAME, K3S_REGISTRIES_PATH
from kubeferry.errors import KubeferryError
from kubeferry.files.hashing import sha256_file
from kubeferry.files.textfiles import read_bytes
from kubeferry.targets.node import SYSTEMD_DIR, K3sNode
from kubeferry.targets.node_install import read_record
from kubeferry.targets.registries import check_file
from kubeferry.verification.sums import parse_sums


@dataclass(frozen=True)
class Finding:
    """One thing looked at: what, whether it is fine, the detail, and the fix when it is not."""

    item: str
    ok: bool
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {"item": self.item, "ok": self.ok, "detail": self.detail, "fix": self.fix}


@dataclass
class NodeCheck:
    """Everything `node check` found."""

    root: Path
    tag: str | None
    arch: str | None
    findings: list[Finding] = field(default_factory=list)
    mirrors: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """True when nothing is missing or wrong."""
        return all(f.ok for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "root": str(self.root),
            "k3s": self.tag,
            "arch": self.arch,
            "ready": self.ready,
            "mirrors": list(self.mirrors),
            "findings": [f.as_dict() for f in self.findings],
        }


def _install_command(root: Path, source: str, tag: str | None) -> str:
    parts = ["kubeferry", "node", "install", source]
    if tag:
        parts += ["--k3s", tag]
    if root != Path("/"):
        parts += ["--root", str(root)]
    return shlex.join(parts)


def _digest(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except (KubeferryError, OSError):
        return None


def _release_files(check: NodeCheck, node: K3sNode, record: dict[str, Any], fix: str) -> None:
    listed = record.get("files")
    files: dict[str, Any] = listed if isinstance(listed, dict) else {}
    try:
        text = read_bytes(node.sums, missing="", error=KubeferryError).decode("utf-8", "replace")
        sums = parse_sums(text, source=str(node.sums))
    except KubeferryError as exc:
        check.findings.append(Finding(node.assets.sums, False, exc.message, fix))
        return
    binary = node.binary
    found = os.lstat(binary) if os.path.lexists(binary) else None
    if found is None or not stat.S_ISREG(found.st_mode):
        check.findings.append(Finding("binary", False, f"{binary} is missing", fix))
    elif _digest(binary) != sums.get(node.assets.binary):
        detail = f"{binary} is not the {node.tag} binary ({node.assets.sums} names another)"
        check.findings.append(Finding("binary", False, detail, fix))
    elif found.st_mode & 0o111 == 0:
        check.findings.append(Finding("binary", False, f"{binary} is not executable", fix))
    else:
        check.findings.append(Finding("binary", True, f"{binary}: k3s {node.tag}"))
    images = [name for name in node.assets.images if name in files]
    path = node.images_dir / images[0] if images else node.images_dir / node.assets.images[0]
    if not images or _digest(path) != sums.get(path.name):
        what = "is missing" if not path.is_file() else f"is not {node.tag}'s archive"
        check.findings.append(Finding("images", False, f"{path} {what}", fix))
    else:
        check.findings.append(Finding("images", True, f"{path}: k3s {node.tag}"))
    script = files.get(INSTALL_SCRIPT_NAME, {})
    expected = script.get("sha256") if isinstance(script, dict) else None
    if _digest(node.install_script) != expected or expected is None:
        detail = f"{node.install_script} is missing or not the script installed with {node.tag}"
        check.findings.append(Finding(INSTALL_SCRIPT_NAME, False, detail, fix))
    else:
        check.findings.append(Finding(INSTALL_SCRIPT_NAME, True, f"{node.install_script}"))
    _other_archives(check, node, sums)


def _other_archives(check: NodeCheck, node: K3sNode, sums: dict[str, str]) -> None:
    folder = node.images_dir
    if not folder.is_dir():
        return
    ours = {digest for name, digest in sums.items() if name in node.assets.images}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if entry.name.startswith("k3s-airgap-images-") and _digest(entry) not in ours:
            detail = (
                f"{entry} is an airgap archive of another release (or another arch); k3s "
                "imports every archive in this folder"
            )
            check.findings.append(Finding("images", False, detail, f"rm {shlex.quote(str(entry))}"))
        elif not entry.name.startswith("k3s-airgap-images-"):
            detail = f"{entry}: another archive, imported too (workload images)"
            check.findings.append(Finding("images", True, detail))


def _registries(check: NodeCheck, root: Path) -> None:
    path = root / K3S_REGISTRIES_PATH
    found = check_file(path, "registries.yaml")
    if found is None:
        detail = f"no {path}: k3s pulls from the registries themselves"
        check.findings.append(Finding("registries.yaml", True, detail))
        return
    check.mirrors = found.mirrors
    fix = f"kubeferry registries check {shlex.quote(str(path))}; then fix or rewrite it with "
    fix += "'kubeferry node install SOURCE --registry-mirror URL'"
    if found.problems:
        detail = f"{path}: {'; '.join(found.problems)}"
        check.findings.append(Finding("registries.yaml", False, detail, fix))
    else:
        detail = f"{path}: mirrors {', '.join(found.mirrors) or 'none'}"
        check.findings.append(Finding("registries.yaml", True, detail))


def check_node_root(root: Path) -> NodeCheck:
    """Everything above, for the node at `root`."""
    root = root.absolute()
    record = read_record(root)
    if record is None:
        check = NodeCheck(root, None, None)
        where = K3sNode(root, "", "amd64").record
        fix = _install_command(root, "SOURCE", None)
        detail = f"no {where}: kubeferry has not installed k3s here"
        check.findings.append(Finding("node.json", False, detail, fix))
        _registries(check, root)
        return check
    tag, arch = str(record.get("k3s", "")), str(record.get("arch", "amd64"))
    check = NodeCheck(root, tag, arch)
    node = K3sNode(root, tag, arch)
    fix = _install_command(root, str(record.get("source", "SOURCE")), tag)
    check.findings.append(Finding("node.json", True, f"{node.record}: k3s {tag} ({arch})"))
    _release_files(check, node, record, fix)
    _registries(check, root)
    systemd = root / SYSTEMD_DIR
    units = sorted(systemd.glob("k3s*.service")) if systemd.is_dir() else []
    openrc = root / "etc/init.d"
    units += sorted(openrc.glob("k3s*")) if openrc.is_dir() else []
    if units:
        names = ", ".join(str(u) for u in units)
        check.findings.append(Finding("service", True, names))
    else:
        detail = f"no k3s*.service in {systemd}: the install script has not run"
        check.findings.append(Finding("service", False, detail, fix))
    return check
