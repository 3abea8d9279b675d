"""Downloading the kubectl the server needs, when allowed (cold path: uses the download engine).

On a fresh machine (no local kubectl, no server answer) the release named by the mirror's
`release/stable.txt` is fetched, as kuberlr does.
"""

from __future__ import annotations

import os
import sys

from kubeferry.core.skew import format_version, newest
from kubeferry.errors import NoKubectlError
from kubeferry.shim.context import Context
from kubeferry.shim.decide import Decision, offline_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kubeferry.core.endpoints import Endpoints


def fetch_for(ctx: Context, decision: Decision) -> Decision:
    """Fetch `decision.download` (or stable.txt's release) into the kuberlr folder, verified."""
    from kubeferry.core.endpoints import Endpoints
    from kubeferry.errors import KubeferryError

    endpoints = Endpoints.from_environ(ctx.environ, kube_mirror_url=ctx.config.mirror_url)
    timeout = max(ctx.config.timeout, 30)
    if decision.stable:
        return _fetch_stable(ctx, decision, endpoints, timeout)
    from kubeferry.stores.kubectls import fetch_kubectl

    version = decision.download
    assert version is not None
    sys.stderr.write(
        f"kubeferry: no local kubectl fits, downloading {format_version(version)} "
        f"from {endpoints.kubectl_mirror_url}\n"
    )
    try:
        path = fetch_kubectl(
            endpoints, format_version(version), ctx.os, ctx.arch, ctx.local_dir, timeout=timeout
        )
    except KubeferryError as exc:
        if ctx.config.use_latest_if_no_compatible and (best := newest(ctx.binaries)):
            sys.stderr.write(
                f"kubeferry: download failed ({exc}); UseLatestIfNoCompatible: using {best[1]}\n"
            )
            return Decision(best, decision.server, decision.source, decision.reasons)
        raise NoKubectlError(offline_message(ctx, version, error=str(exc))) from exc
    binary = (version, os.fspath(path))
    return Decision(binary, decision.server, decision.source, decision.reasons)


def _fetch_stable(
    ctx: Context, decision: Decision, endpoints: Endpoints, timeout: float
) -> Decision:
    from pathlib import Path

    from kubeferry.core.skew import parse_version
    from kubeferry.errors import KubeferryError
    from kubeferry.stores.kubectls import download_kubectl, resolve_kubectl_version
    from kubeferry.transport import http

    stable_url = endpoints.kubectl_stable_url()
    sys.stderr.write(
        f"kubeferry: no kubectl on this machine and no server version "
        f"({'; '.join(decision.reasons[:1])}): downloading the release {stable_url} names\n"
    )
    try:
        with http.open_client(read_timeout=timeout) as client:
            text = resolve_kubectl_version(client, endpoints, "stable").short
            fetched = download_kubectl(
                client, endpoints, text, ctx.os, ctx.arch, Path(ctx.local_dir)
            )
            path = fetched.job.destination
    except KubeferryError as exc:
        raise NoKubectlError(
            f"no kubectl on this machine, the server's version is unknown, and the stable "
            f"release could not be downloaded from {stable_url} ({exc}). Run 'kubeferry kubectl "
            f"get stable' on a connected machine, or install a kubeferry bundle.",
            url=stable_url,
        ) from exc
    version = parse_version(text) or (0, 0, 0)
    return Decision((version, os.fspath(path)), None, "stable", decision.reasons)
