"""`kubeferry node install http://MIRROR`: a node with no bundle, only a kubeferry mirror.

The tag comes from the mirror's channels and releases (a full tag needs neither). The release
files come through the download engine into `<root>/var/lib/rancher/k3s/kubeferry/fetched/
<tag>/`, each verified against the release's sums file before it gets its name; install.sh is
checked against the mirror's `install.sh.sha256` (the digest the mirror's bundle manifest
records). They are kept there and hard-linked into place, so a second run fetches only the
small sums file and script again, finds every placed file already in place and says so.
"""

from __future__ import annotations

from pathlib import Path

from kubeferry.catalog.rules import resolve_k3s_spec
from kubeferry.core.layouts import INSTALL_SCRIPT_NAME, k3s_bundle_path
from kubeferry.core.versions import K3sTag, parse_k3s_tag
from kubeferry.download.engine import DownloadResult
from kubeferry.errors import NodeError
from kubeferry.files.hashing import sha256_file
from kubeferry.services.common import network
from kubeferry.services.node import (
    NodeReport,
    NodeRequest,
    mirror_endpoints,
    place_and_run,
    verify_script_digest,
)
from kubeferry.settings import Settings
from kubeferry.targets.node import K3sNode
from kubeferry.targets.placement import BundleFile

FETCHED = "fetched"


def _tag(settings: Settings, request: NodeRequest) -> K3sTag:
    spec = (request.k3s or "stable").strip()
    if "+k3s" in spec and (tag := parse_k3s_tag(spec)) is not None:
        return tag
    from kubeferry.services.catalog import fetch_upstream_catalog

    mirrored, _ = mirror_endpoints(settings, request.source)
    catalog = fetch_upstream_catalog(mirrored)
    return resolve_k3s_spec(catalog, spec, source=f"the mirror {request.source}")


def install_from_mirror(settings: Settings, request: NodeRequest) -> NodeReport:
    """Fetch the release from the mirror (verified), place it, run its install.sh."""
    from kubeferry.stores.release import fetch_release
    from kubeferry.transport import http

    _, endpoints = mirror_endpoints(settings, request.source)
    tag = _tag(settings, request)
    node = K3sNode(request.node_root, str(tag), settings.arch)
    folder = node.kubeferry_dir / FETCHED / str(tag)
    if request.dry_run:
        return _planned(settings, node, request, folder)
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
    files = [_bundle_file(folder, node, result) for result in results]
    return place_and_run(settings, node, files, request, source=request.source, link=True)


def _bundle_file(folder: Path, node: K3sNode, result: DownloadResult) -> tuple[BundleFile, str]:
    name = result.job.destination.name
    executable = name == node.assets.binary
    return BundleFile(folder, name, result.size, result.sha256, executable), k3s_bundle_path(
        node.tag, name
    )


def _planned(settings: Settings, node: K3sNode, request: NodeRequest, folder: Path) -> NodeReport:
    """--dry-run: nothing is downloaded; each file's state on the node, from what is there."""
    report = NodeReport(node, request.source, dry_run=True)
    assets = node.assets
    for name in (assets.binary, assets.images[0], assets.sums, INSTALL_SCRIPT_NAME):
        place = node.path_of(name)
        present = place.is_file() and (folder / name).is_file()
        if present:
            present = sha256_file(place) == sha256_file(folder / name)
        report.files.append((name, str(place), present))
    from kubeferry.targets.node_script import script_environment, shown_variables

    report.environment = shown_variables(
        script_environment(node, request.script, settings.environ, rooted=request.rooted)
    )
    report.registries = "would write" if request.mirror else None
    return report
