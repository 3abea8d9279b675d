"""Downloading the kubectl the server needs, when allowed (cold path: uses the download engine)."""

from __future__ import annotations

import os
import sys

from kubeferry.core.skew import format_version, newest
from kubeferry.errors import NoKubectlError
from kubeferry.shim.context import Context
from kubeferry.shim.decide import Decision, offline_message


def fetch_for(ctx: Context, decision: Decision) -> Decision:
    """Fetch `decision.download` into the kuberlr folder, verified; fall back as configured."""
    from kubeferry.core.endpoints import Endpoints
    from kubeferry.errors import KubeferryError
    from kubeferry.stores.kubectls import fetch_kubectl

    version = decision.download
    assert version is not None
    endpoints = Endpoints.from_environ(ctx.environ, kube_mirror_url=ctx.config.mirror_url)
    sys.stderr.write(
        f"kubeferry: no local kubectl fits, downloading {format_version(version)} "
        f"from {endpoints.kubectl_mirror_url}\n"
    )
    try:
        path = fetch_kubectl(
            endpoints,
            format_version(version),
            ctx.os,
            ctx.arch,
            ctx.local_dir,
            timeout=max(ctx.config.timeout, 30),
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
