"""`kubeferry node install`: k3s's air-gap install, from a bundle folder, a registry or a mirror.

Every source ends in the same steps: the release's four files (binary, images archive, sums
file, install.sh) are placed through `targets/placement` into the node target
(`targets/node.K3sNode`), registries.yaml is written when asked, `node.json` records what was
installed, and the carried install.sh runs with INSTALL_K3S_SKIP_DOWNLOAD=true.

- A bundle folder is verified whole first (`trusted_bundle`, the one trust check).
- A registry reference is pulled beside the cache (as `bundle install REF` does), then installed
  as a folder and removed.
- A mirror URL: the release files come through the download engine, each verified against the
  release's sums file; install.sh against the mirror's `install.sh.sha256` (the mirror takes it
  from its bundle's manifest). They are kept in `<root>/var/lib/rancher/k3s/kubeferry/fetched/`
  and hard-linked into place, so a second run downloads nothing again.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kubeferry import __version__
from kubeferry.bundle.install import _bundled_catalog
from kubeferry.bundle.manifest import ManifestFile
from kubeferry.catalog.rules import Catalog, resolve_k3s_spec
from kubeferry.core.endpoints import Endpoints
from kubeferry.core.layouts import INSTALL_SCRIPT_NAME, K3S_REGISTRIES_PATH
from kubeferry.core.layouts import parse_bundle_path as parse_path
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.versions import K3sTag, parse_k3s_tag
from kubeferry.errors import ChecksumError, NodeError
from kubeferry.files.safe import write_text_atomically
from kubeferry.files.textfiles import parse_json, read_bytes
from kubeferry.registry.registries_yaml import MirrorSettings, build_registries
from kubeferry.services.registry import PULL_STAGING, RegistryAccess, is_reference
from kubeferry.settings import Settings
from kubeferry.targets.node import K3sNode
from kubeferry.targets.node_script import (
    ScriptOptions,
    ScriptRun,
    run_install_script,
    script_environment,
    shown_variables,
)
from kubeferry.targets.placement import BundleFile, Placement, same_file
from kubeferry.targets.registries import write_registries
from kubeferry.verification.bundle import VerifyReport, verify_bundle

RECORD_KIND = "kubeferry-node"


@dataclass(frozen=True)
class NodeRequest:
    """What `node install` was asked for."""

    source: str
    k3s: str | None = None
    root: Path | None = None
    dry_run: bool = False
    script: ScriptOptions = field(default_factory=ScriptOptions)
    mirror: MirrorSettings | None = None
    access: RegistryAccess = field(default_factory=RegistryAccess)

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


def trusted_bundle(folder: Path) -> VerifyReport:
    """THE one place `node install` decides a bundle folder is trusted, before anything is placed.

    Today: every file re-hashed against the manifest (verification/bundle.py). Issue 21 adds
    signatures: `verification.signatures.require_trusted(...)` is to be called here, once.
    """
    verified = verify_bundle(folder)
    verified.require_ok()
    # TRUST CHECK (issue 21): wire verification.signatures.require_trusted(...) in here.
    return verified


def bundled_tags(entries: tuple[ManifestFile, ...], arch: str) -> list[K3sTag]:
    """Tags whose binary for `arch` the bundle carries, ascending."""
    binary = K3sAssets(arch).binary
    found = {parse_k3s_tag(e.place.tag or "") for e in entries if e.place.name == binary}
    return sorted(tag for tag in found if tag is not None)


def choose_tag(spec: str | None, tags: list[K3sTag], catalog: Catalog, where: str) -> K3sTag:
    """SPEC (tag, 1.N[.P], channel) among `tags`; without SPEC the only one, else `stable`."""
    if not tags:
        raise NodeError(f"{where} carries no k3s release for this node's arch (see --arch).")
    if spec is None and len(tags) == 1:
        return tags[0]
    listed = Catalog(versions=tuple(tags), channels=catalog.channels)
    wanted = resolve_k3s_spec(listed, spec or "stable", source=where)
    if wanted not in tags:
        raise NodeError(
            f"{where} does not carry k3s {wanted} (asked: {spec or 'stable'}); it carries "
            f"{', '.join(str(t) for t in tags)}. Pass one of them with --k3s.",
        )
    return wanted


def release_entries(
    entries: tuple[ManifestFile, ...], node: K3sNode, where: str
) -> list[tuple[str, int, str]]:
    """The (bundle path, size, sha256) of the node's four files; NodeError naming what lacks."""
    by_name = {e.place.name: e for e in entries if e.kind == "k3s" and e.place.tag == node.tag}
    assets = node.assets
    images = next((by_name[name] for name in assets.images if name in by_name), None)
    chosen = [by_name.get(assets.binary), images, by_name.get(assets.sums)]
    chosen.append(by_name.get(INSTALL_SCRIPT_NAME))
    labels = (assets.binary, "an images archive (.tar.zst or .tar)", assets.sums)
    labelled = zip((*labels, INSTALL_SCRIPT_NAME), chosen, strict=True)
    missing = [label for label, e in labelled if e is None]
    if missing:
        older = (
            " Bundles made before kubeferry carried install.sh lack it: recreate the bundle "
            "with 'kubeferry bundle create' (or 'kubeferry cache add' then bundle again)."
            if missing == [INSTALL_SCRIPT_NAME]
            else ""
        )
        raise NodeError(
            f"{where} lacks {', '.join(missing)} of k3s {node.tag} ({node.arch}), so nothing "
            f"was placed.{older}",
        )
    return [(e.path, e.size, e.sha256) for e in chosen if e is not None]


def install_node(settings: Settings, request: NodeRequest) -> NodeReport:
    """`node install SOURCE`: a mirror URL, a registry reference, or a bundle folder."""
    request.script.check(request.rooted)
    source = request.source
    if source.startswith(("http://", "https://")):
        from kubeferry.services.node_mirror import install_from_mirror

        return install_from_mirror(settings, request)
    if is_reference(source):
        return install_from_reference(settings, request)
    return install_from_folder(settings, Path(source), request)


def install_from_folder(
    settings: Settings, folder: Path, request: NodeRequest, *, source: str | None = None
) -> NodeReport:
    """Verify the bundle, choose the release, place it, run its install.sh."""
    verified = trusted_bundle(folder)
    entries = verified.manifest.files
    where = f"the bundle {folder}"
    catalog = _bundled_catalog(folder, entries)
    tag = choose_tag(request.k3s, bundled_tags(entries, settings.arch), catalog, where)
    node = K3sNode(request.node_root, str(tag), settings.arch)
    files = [
        (BundleFile(folder, path, size, digest, path.endswith(f"/{node.assets.binary}")), path)
        for path, size, digest in release_entries(entries, node, where)
    ]
    return place_and_run(settings, node, files, request, source=source or str(folder))


def install_from_reference(settings: Settings, request: NodeRequest) -> NodeReport:
    """Pull the bundle beside the cache (as `bundle install REF`), install it, remove the copy."""
    from kubeferry.core.image_names import parse_reference
    from kubeferry.registry.bundle_artifact import pull_bundle
    from kubeferry.stores.lock import hold

    reference = request.source
    folder = settings.cache_dir / PULL_STAGING / re.sub(r"[^A-Za-z0-9._-]+", "_", reference)
    with hold(folder, announce=settings.announce, what=f"the pulled bundle {folder}") as lock:
        ref = parse_reference(reference)
        with request.access.client(ref.registry, settings) as client:
            pull_bundle(client, ref, folder)
        report = install_from_folder(settings, folder, request, source=reference)
        for item in folder.iterdir():  # all but the lock file, which goes with the lock
            if item != lock:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
    return report


def place_and_run(
    settings: Settings,
    node: K3sNode,
    files: list[tuple[BundleFile, str]],
    request: NodeRequest,
    *,
    source: str,
    link: bool = False,
) -> NodeReport:
    """Place each file (atomically, unless already there), registries.yaml, the record; then the
    install script. With --dry-run: what would be placed and the script's variables, nothing
    more."""
    report = NodeReport(node, source, request.dry_run)
    document = build_registries(request.mirror) if request.mirror else None  # checked first
    if request.dry_run:
        return _place(settings, node, files, request, report, document, link=link)
    from kubeferry.stores.lock import hold  # one run at a time per node

    what = f"the k3s node {node.root}"
    with hold(node.kubeferry_dir, announce=settings.announce, what=what):
        return _place(settings, node, files, request, report, document, link=link)


def _place(
    settings: Settings,
    node: K3sNode,
    files: list[tuple[BundleFile, str]],
    request: NodeRequest,
    report: NodeReport,
    document: dict[str, Any] | None,
    *,
    link: bool,
) -> NodeReport:
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
    report.registries = _registries(node, document, dry_run=request.dry_run)
    report.environment = shown_variables(
        script_environment(node, request.script, settings.environ, rooted=request.rooted)
    )
    if request.dry_run:
        return report
    _write_record(report)
    report.script = run_install_script(
        node, request.script, settings.environ, rooted=request.rooted
    )
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


def mirror_endpoints(settings: Settings, base: str) -> tuple[Settings, Endpoints]:
    """Settings whose endpoints all point at the kubeferry mirror at `base`."""
    endpoints = Endpoints.from_environ({"KUBEFERRY_MIRROR": base.rstrip("/")})
    return replace(settings, endpoints=endpoints), endpoints


def verify_script_digest(text: str, digest: str, url: str) -> None:
    """The mirror's `install.sh.sha256` must name the bytes fetched."""
    expected = text.strip().split()[0].lower() if text.strip() else ""
    if expected != digest:
        raise ChecksumError(
            f"{url} has sha256 {digest}, the mirror's {url}.sha256 says {expected or 'nothing'}; "
            "nothing was placed. Check the mirror (kubeferry mirror serve checks its bundles).",
            url=url,
            expected=expected,
            actual=digest,
        )
