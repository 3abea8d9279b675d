"""`kubeferry node install|check` as services: k3s's air-gap install from a bundle folder or a
kubeferry mirror, and the check of a node.

Every source ends in `targets.node_install.place_and_run` (place the release's four files,
registries.yaml, node.json; run the carried install.sh), under the node's lock.

- A bundle folder is verified whole first (`trusted_bundle`, the one trust check). A bundle in a
  registry is pulled by `services.registry.pulled_bundle` and then installed as a folder.
- A mirror URL: the release files come through the download engine, each verified against the
  release's sums file; install.sh against the mirror's `install.sh.sha256` (the mirror takes it
  from its bundle's manifest). They are kept in `<root>/var/lib/rancher/k3s/kubeferry/fetched/
  <tag>/` and hard-linked into place, so a second run fetches only the sums file and script.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kubeferry.bundle.install import _bundled_catalog
from kubeferry.bundle.manifest import ManifestFile
from kubeferry.catalog.rules import Catalog, resolve_k3s_spec
from kubeferry.core.endpoints import Endpoints
from kubeferry.core.layouts import INSTALL_SCRIPT_NAME, k3s_bundle_path
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.versions import DEFAULT_MINIMUM_VERSION, K3sTag, parse_k3s_tag
from kubeferry.download.engine import DownloadResult
from kubeferry.errors import ChecksumError, NodeError
from kubeferry.services.common import network
from kubeferry.settings import Settings
from kubeferry.stores.lock import Announce, hold
from kubeferry.targets.node import K3sNode
from kubeferry.targets.node_check import NodeCheck, check_node_root
from kubeferry.targets.node_install import NodeReport, NodeRequest, place_and_run
from kubeferry.targets.node_script import ScriptOptions
from kubeferry.targets.placement import BundleFile
from kubeferry.verification.bundle import VerifyReport, trusted_and_verified
from kubeferry.verification.keys import Trust

__all__ = ["NodeCheck", "NodeReport", "NodeRequest", "ScriptOptions", "check_node", "install_node"]
FETCHED = "fetched"


def trusted_bundle(folder: Path, trust: Trust, announce: Announce | None = None) -> VerifyReport:
    """THE one place `node install` decides a bundle folder is trusted, before anything is
    placed: its signatures against `trust` (`--key`, KUBEFERRY_TRUSTED_KEYS, the trusted-keys
    folder; `--allow-unsigned`), as `bundle install` checks them, then every file re-hashed
    against the very manifest that was checked."""
    check, verified = trusted_and_verified(folder, trust)
    for signer in check.signed_by:
        if announce is not None:
            announce(f"bundle {folder} signed by {signer.fingerprint} ({signer.key_file}): trusted")
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


def install_node(
    settings: Settings,
    request: NodeRequest,
    *,
    label: str | None = None,
    trust: Trust | None = None,
) -> NodeReport:
    """`node install SOURCE`: a kubeferry mirror URL or a bundle folder (a registry reference is
    pulled into a folder first: `services.registry.pulled_bundle`); `label` names the source in
    the record when it is not the folder. A bundle must pass `trust` (default: the configured
    keys); from a mirror, the mirror has checked its bundles (`mirror serve` takes the same
    trust options)."""
    request.script.check(request.rooted)
    if request.source.startswith(("http://", "https://")):
        return install_from_mirror(settings, request)
    trust = trust or Trust(environ=settings.environ)
    return install_from_folder(settings, Path(request.source), request, trust, source=label)


def install_from_folder(
    settings: Settings,
    folder: Path,
    request: NodeRequest,
    trust: Trust,
    *,
    source: str | None = None,
) -> NodeReport:
    """Check the bundle's signatures and files, choose the release, place it, run install.sh."""
    verified = trusted_bundle(folder, trust, settings.announce)
    entries = verified.manifest.files
    where = f"the bundle {folder}"
    catalog = _bundled_catalog(folder, entries)
    tag = choose_tag(request.k3s, bundled_tags(entries, settings.arch), catalog, where)
    node = K3sNode(request.node_root, str(tag), settings.arch)
    files = [
        (BundleFile(folder, path, size, digest, path.endswith(f"/{node.assets.binary}")), path)
        for path, size, digest in release_entries(entries, node, where)
    ]
    images = [
        BundleFile(folder, e.path, e.size, e.sha256, False) for e in entries if e.kind == "image"
    ]
    return _locked(settings, node, files, request, source or str(folder), images=images)


def _locked(
    settings: Settings,
    node: K3sNode,
    files: list[tuple[BundleFile, str]],
    request: NodeRequest,
    source: str,
    *,
    link: bool = False,
    images: list[BundleFile] | None = None,
) -> NodeReport:
    """`place_and_run`, holding the node's lock (one run at a time; none for --dry-run)."""

    def run() -> NodeReport:
        return place_and_run(
            settings.environ, node, files, request, source=source, link=link, images=images or ()
        )

    if request.dry_run:
        return run()
    with hold(node.kubeferry_dir, announce=settings.announce, what=f"the k3s node {node.root}"):
        return run()


def _mirror_tag(settings: Settings, request: NodeRequest, endpoints: Endpoints) -> K3sTag:
    spec = (request.k3s or "stable").strip()
    if "+k3s" in spec and (tag := parse_k3s_tag(spec)) is not None:
        return tag
    from kubeferry.catalog.upstream import fetch_catalog

    with network(settings, endpoints.channels_url) as client:
        catalog = fetch_catalog(client, endpoints, DEFAULT_MINIMUM_VERSION, [])
    return resolve_k3s_spec(catalog, spec, source=f"the mirror {request.source}")


def install_from_mirror(settings: Settings, request: NodeRequest) -> NodeReport:
    """Fetch the release from the mirror (verified), place it, run its install.sh."""
    from kubeferry.stores.release import fetch_release
    from kubeferry.transport import http

    endpoints = Endpoints.from_environ({"KUBEFERRY_MIRROR": request.source.rstrip("/")})
    settings = replace(settings, endpoints=endpoints)
    tag = _mirror_tag(settings, request, endpoints)
    node = K3sNode(request.node_root, str(tag), settings.arch)
    folder = node.kubeferry_dir / FETCHED / str(tag)
    if request.dry_run:
        names = (node.assets.binary, node.assets.images[0], node.assets.sums, INSTALL_SCRIPT_NAME)
        planned = [(_planned(folder, name), k3s_bundle_path(str(tag), name)) for name in names]
        return place_and_run(settings.environ, node, planned, request, source=request.source)
    with network(settings, endpoints.k3s_download_url) as client:
        results = fetch_release(client, endpoints, folder, tag, settings.arch)
        script = next((r for r in results if r.job.destination.name == INSTALL_SCRIPT_NAME), None)
        if script is None:
            raise NodeError(
                f"the mirror {request.source} has no install.sh for k3s {tag} "
                f"({endpoints.k3s_install_script(str(tag))} answered 404): its bundle was made "
                "before kubeferry carried it. Recreate the bundle with 'kubeferry bundle create' "
                "and serve that. Nothing was placed.",
                url=endpoints.k3s_install_script(str(tag)),
            )
        answer = http.get(client, f"{script.job.url}.sha256")
        if answer.status_code != 200:
            raise http.status_error(answer, "The mirror must serve install.sh.sha256.")
        verify_script_digest(answer.text, script.sha256, script.job.url)
    files = [_fetched(folder, node, result) for result in results]
    return _locked(settings, node, files, request, request.source, link=True)


def _fetched(folder: Path, node: K3sNode, result: DownloadResult) -> tuple[BundleFile, str]:
    name = result.job.destination.name
    item = BundleFile(folder, name, result.size, result.sha256, name == node.assets.binary)
    return item, k3s_bundle_path(node.tag, name)


def _planned(folder: Path, name: str) -> BundleFile:
    """--dry-run from a mirror: a file fetched by an earlier run stands for itself (so a second
    dry run says what is in place); otherwise nothing is known but the name."""
    from kubeferry.files.hashing import sha256_file

    path = folder / name
    if path.is_file():
        return BundleFile(folder, name, path.stat().st_size, sha256_file(path), False)
    return BundleFile(folder, name, -1, "", False)


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


def check_node(root: Path) -> NodeCheck:
    """`node check [--root DIR]`."""
    return check_node_root(root)
