"""Installing a k3s release onto a node: the steps every source of `node install` ends in.

The release's four files (binary, images archive, sums file, install.sh) are placed through
`targets.placement.Placement` into the node (`targets.node.K3sNode`), atomically per file and
only when not already there; registries.yaml is written when asked (`targets.registries`);
`node.json` records what was installed; then the carried install.sh runs
(`targets.node_script`). The sources themselves (bundle folder, registry, mirror) are
`services/node.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from kubeferry import __version__
from kubeferry.core.layouts import K3S_REGISTRIES_PATH
from kubeferry.core.layouts import parse_bundle_path as parse_path
from kubeferry.errors import NodeError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import parse_json, read_bytes
from kubeferry.registry.registries_yaml import MirrorSettings, build_registries
from kubeferry.targets.node import K3sNode
from kubeferry.targets.node_images import WORKLOAD_ARCHIVE, place_workload_archive
from kubeferry.targets.node_script import (
    ScriptOptions,
    ScriptRun,
    run_install_script,
    script_environment,
    shown_variables,
)
from kubeferry.targets.placement import BundleFile, Placement, same_file
from kubeferry.targets.registries import write_registries

RECORD_KIND: Final = "kubeferry-node"
WORKLOAD_LABEL: Final = "workload images"


@dataclass(frozen=True)
class NodeRequest:
    """What `node install` was asked for."""

    source: str
    k3s: str | None = None
    root: Path | None = None
    dry_run: bool = False
    script: ScriptOptions = field(default_factory=ScriptOptions)
    mirror: MirrorSettings | None = None

    @property
    def rooted(self) -> bool:
        """True under `--root DIR` (other than `/`): the script is then contained."""
        return self.root is not None and self.root.resolve() != Path("/")

    @property
    def node_root(self) -> Path:
        """`--root`, else `/`."""
        return (self.root or Path("/")).absolute()


@dataclass
class NodeReport:
    """What `node install` did (or, with --dry-run, would do)."""

    node: K3sNode
    source: str
    dry_run: bool
    files: list[tuple[str, str, bool]] = field(default_factory=list)
    """(release file, node path, already in place)."""
    digests: dict[str, str] = field(default_factory=dict)
    """Release file -> sha256 of what is (or would be) placed."""
    registries: str | None = None
    """`written`, `unchanged`, `would write`, or None when not asked."""
    environment: dict[str, str] = field(default_factory=dict)
    script: ScriptRun | None = None

    @property
    def placed(self) -> list[str]:
        """Node paths written this run."""
        return [path for _, path, present in self.files if not present]

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`node install --json`)."""
        return {
            "root": str(self.node.root),
            "k3s": self.node.tag,
            "arch": self.node.arch,
            "source": self.source,
            "dry_run": self.dry_run,
            "files": [
                {"file": name, "path": path, "already_in_place": present}
                for name, path, present in self.files
            ],
            "registries": self.registries,
            "script_environment": self.environment,
            "script_ran": self.script is not None,
            "script_output": self.script.output if self.script else None,
        }


def place_and_run(
    environ: Mapping[str, str],
    node: K3sNode,
    files: list[tuple[BundleFile, str]],
    request: NodeRequest,
    *,
    source: str,
    link: bool = False,
    images: Sequence[BundleFile] = (),
) -> NodeReport:
    """Place each file (atomically, unless already there), the bundle's workload `images` as one
    archive in `agent/images/`, registries.yaml, the record; then the install script with
    `environ` (the caller's variables) under kubeferry's. With --dry-run: what would be placed
    and the script's variables, nothing more. The caller holds the node's lock."""
    report = NodeReport(node, source, request.dry_run)
    document = build_registries(request.mirror) if request.mirror else None  # checked first
    _place(node, files, request, report, link=link)
    if images:
        _place_images(node, images, report)
    return _finish(environ, node, request, report, document)


def _place_images(node: K3sNode, images: Sequence[BundleFile], report: NodeReport) -> None:
    destination = node.images_dir / WORKLOAD_ARCHIVE
    present = False
    if not report.dry_run:
        present, report.digests[WORKLOAD_LABEL] = place_workload_archive(images, destination)
    report.files.append((WORKLOAD_LABEL, str(destination), present))


def _place(
    node: K3sNode,
    files: list[tuple[BundleFile, str]],
    request: NodeRequest,
    report: NodeReport,
    *,
    link: bool,
) -> None:
    placement = Placement(node, link=link)
    for item, path in files:
        place = parse_path(path)
        destination = node.destination(place) if place else None
        if destination is None:  # release_entries chose only the node's own files
            raise NodeError(f"{path} is not a file of k3s {node.tag} for a node.")
        present = same_file(destination, item.size, item.sha256)
        if not request.dry_run:
            placement.place(item, destination)
        name = place.name if place else path
        report.files.append((name, str(destination), present))
        report.digests[name] = item.sha256
    placement.commit()


def _finish(
    environ: Mapping[str, str],
    node: K3sNode,
    request: NodeRequest,
    report: NodeReport,
    document: dict[str, Any] | None,
) -> NodeReport:
    report.registries = _registries(node, document, dry_run=request.dry_run)
    report.environment = shown_variables(
        script_environment(node, request.script, environ, rooted=request.rooted)
    )
    if request.dry_run:
        return report
    _write_record(report)
    report.script = run_install_script(node, request.script, environ, rooted=request.rooted)
    return report


def _registries(node: K3sNode, document: dict[str, Any] | None, *, dry_run: bool) -> str | None:
    if document is None:
        return None
    if dry_run:
        return "would write"
    path = node.root / K3S_REGISTRIES_PATH
    before = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    write_registries(document, path, "registries.yaml")
    return "unchanged" if before == path.read_bytes() else "written"


def _write_record(report: NodeReport) -> None:
    """`node.json`: the release, where it came from, and the digests of what was placed."""
    node = report.node
    digests = {
        name: {"path": str(Path(path).relative_to(node.root)), "sha256": report.digests[name]}
        for name, path, _ in report.files
    }
    document = {
        "kind": RECORD_KIND,
        "k3s": node.tag,
        "arch": node.arch,
        "source": report.source,
        "files": digests,
        "registries_yaml": report.registries is not None,
        "tool": f"kubeferry {__version__}",
    }
    text = json.dumps(document, indent=2) + "\n"
    existing = node.record.read_text() if node.record.is_file() else None
    if existing != text:
        write_text_atomically(node.record, text)


def read_record(node_root: Path) -> dict[str, Any] | None:
    """The node's `node.json`, or None when there is none (or it is not ours)."""
    path = K3sNode(node_root, "", "amd64").record
    if not path.is_file():
        return None
    try:
        document = parse_json(
            read_bytes(path, missing="", error=NodeError).decode("utf-8", "replace"),
            source=str(path),
            fix="Run 'kubeferry node install' again.",
            error=NodeError,
        )
    except NodeError:
        return None
    return document if isinstance(document, dict) and document.get("kind") == RECORD_KIND else None
