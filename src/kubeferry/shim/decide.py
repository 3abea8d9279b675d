"""Which kubectl to run, and why (standard library only on the warm path).

Client-only commands (`version --client`, `help`, `config`, ...): the newest local kubectl, no
probe. Warm: the kubeconfig is unchanged and its cluster's version was checked within the TTL, so
the answer comes from the version cache; when that answer is older than `revalidate_after` (2 s)
the caller starts a detached refresher, so the next call sees a server upgrade. A probe that
failed within FAILED_PROBE_TTL seconds is not repeated. Cold: the kubeconfig is parsed and
`/version` asked (`resolve.py`, imported only then). Unreachable: the last version known for that
cluster, else the newest local kubectl, else (a fresh machine) the release `stable.txt` names
when downloads are allowed. Nothing fits: download when allowed and online, else
`UseLatestIfNoCompatible`, else a message that says exactly what file to bring.
"""

from __future__ import annotations

import os

from kubeferry.core.kuberlr import GUARD, kubectl_file_name
from kubeferry.core.skew import (
    Binary,
    Version,
    acceptable_range,
    choose,
    format_version,
    newest,
    parse_version,
)
from kubeferry.errors import NoKubectlError
from kubeferry.shim.argv import client_only
from kubeferry.shim.context import Context
from kubeferry.shim.versioncache import VersionCache, cache_file

FAILED_PROBE_TTL = 30.0


class Decision:
    """The chosen binary and the reasons, for exec and for `kubeferry kubectl which`."""

    __slots__ = (
        "binary",
        "download",
        "notice",
        "reasons",
        "revalidate",
        "server",
        "source",
        "stable",
    )

    def __init__(
        self,
        binary: Binary | None,
        server: Version | None,
        source: str,
        reasons: list[str],
        download: Version | None = None,
        *,
        stable: bool = False,
    ) -> None:
        self.binary = binary
        self.server = server
        self.source = source
        self.reasons = reasons
        self.download = download
        self.stable = stable  # nothing local at all: download what stable.txt names
        self.revalidate = False
        self.notice: str | None = None


def decide(ctx: Context, *, client_only_commands: bool = True) -> Decision:
    """Pick the kubectl for the current (or --context) cluster.

    `client_only_commands=False` asks about the cluster even when the arguments name no command
    (`kubeferry kubectl which` passes only --context/--kubeconfig).
    """
    if ctx.environ.get(GUARD):
        return _fallback(
            ctx,
            None,
            "called from an exec credential plugin while resolving "
            "(KUBERLR_RESOLVING_VERSION is set): the server is not asked again",
        )
    if client_only_commands and client_only(ctx.args):
        return _fallback(ctx, None, "a client-only command: the server is not asked")
    paths = ctx.kubeconfig_paths()
    print_ = ctx.fingerprint()
    cache = VersionCache(cache_file(ctx.environ, ctx.config.home))
    ttl = ctx.config.version_cache_ttl
    hit = cache.fresh_entry(print_, ctx.now, ttl)
    if hit and (version := parse_version(hit[0])):
        try:
            decision = _for_server(ctx, version, "version cache", [f"server {hit[0]} (cached)"])
        except NoKubectlError:
            # Nothing fits the cached answer: ask again now, before giving up, in case the
            # server was upgraded into range since (else it would exit 255 for the whole TTL).
            return _cold(ctx, paths, cache, print_)
        decision.revalidate = ctx.now - hit[1] >= ctx.config.revalidate_after
        return decision
    failure = cache.recent_failure(print_, ctx.now, min(FAILED_PROBE_TTL, ttl))
    if failure is not None:
        why = f"the probe failed within the last {FAILED_PROBE_TTL:g} s ({failure})"
        known = cache.last_known(print_)
        if known and (version := parse_version(known)):
            return _for_server(ctx, version, "last known", [why, f"last known server {known}"])
        return _fallback(ctx, None, why)
    return _cold(ctx, paths, cache, print_)


def _cold(ctx: Context, paths: list[str], cache: VersionCache, print_: str) -> Decision:
    from kubeferry.shim import resolve  # cold path: YAML, TLS, exec plugins

    outcome = resolve.ask_server(paths, ctx, cache, print_)
    if outcome.version is not None:
        decision = _for_server(ctx, outcome.version, outcome.source, outcome.reasons)
    else:
        decision = _fallback(ctx, None, "; ".join(outcome.reasons))
    decision.revalidate = outcome.revalidate
    if outcome.problem:
        problem = outcome.problem
        decision.notice = f"could not check the server's version: {problem}; {_using(decision)}"
    return decision


def _using(decision: Decision) -> str:
    """The fallback in words, for the one line a failed probe is worth."""
    if decision.binary is None:
        return "downloading a kubectl instead"
    chosen = format_version(decision.binary[0])
    if decision.source in ("last known", "version cache") and decision.server is not None:
        known = format_version(decision.server)
        return f"using kubectl {chosen}, chosen for the last known server version {known}"
    return f"using the newest local kubectl {chosen}"


def _fallback(ctx: Context, server: Version | None, why: str) -> Decision:
    best = newest(ctx.binaries)
    if best is None and ctx.config.allow_download and not ctx.config.offline:
        return Decision(
            None,
            server,
            "stable",
            [why, "no local kubectl: download the stable release"],
            stable=True,
        )
    if best is None:
        raise NoKubectlError(
            f"no kubectl to run: {why}, and there is no kubectl in {ctx.local_dir}"
            f"{' or ' + ctx.config.system_path if ctx.config.system_path else ''}. "
            "Run 'kubeferry kubectl get VERSION' on a connected machine, or install a bundle."
        )
    return Decision(
        best, server, "newest local", [why, f"newest local kubectl {format_version(best[0])}"]
    )


def _for_server(ctx: Context, server: Version, source: str, reasons: list[str]) -> Decision:
    found = choose(server, ctx.binaries)
    if found is not None:
        relation = {0: "same minor", 1: "one minor newer", -1: "one minor older"}
        step = relation.get(found[0][1] - server[1], "")
        return Decision(
            found,
            server,
            source,
            [
                *reasons,
                f"kubectl {format_version(found[0])} ({step}) in {os.path.dirname(found[1])}",
            ],
        )
    config = ctx.config
    if config.allow_download and not config.offline:
        return Decision(
            None,
            server,
            source,
            [*reasons, f"no local kubectl fits: download {format_version(server)}"],
            download=server,
        )
    if config.use_latest_if_no_compatible and (best := newest(ctx.binaries)):
        return Decision(
            best,
            server,
            source,
            [
                *reasons,
                f"nothing fits; UseLatestIfNoCompatible: newest local {format_version(best[0])}",
            ],
        )
    raise NoKubectlError(offline_message(ctx, server))


def offline_message(ctx: Context, server: Version, error: str | None = None) -> str:
    """What to bring, from where, and where to put it."""
    config = ctx.config
    found = ", ".join(sorted({format_version(v) for v, _ in ctx.binaries})) or "none"
    folders = ctx.local_dir + (f", {config.system_path}" if config.system_path else "")
    why = (
        f"the download failed ({error})"
        if error
        else "downloads are off (KUBEFERRY_OFFLINE=1)"
        if config.offline
        else "downloads are off (AllowDownload = false)"
    )
    from kubeferry.core.layouts import kubectl_release_path  # only when failing

    name = kubectl_file_name(server, ctx.os)
    url = f"{config.mirror_url}/{kubectl_release_path(format_version(server), ctx.os, ctx.arch)}"
    return (
        f"no kubectl fits the server (Kubernetes {format_version(server)}): kubectl "
        f"{acceptable_range(server)} is needed. Searched {folders} (found: {found}); {why}. "
        f"Place the file {os.path.join(ctx.local_dir, name)} (mode 0755): fetch it on a "
        f"connected machine from {url} (check it against {url}.sha256), or run "
        f"'kubeferry kubectl get {server[0]}.{server[1]}' there, or carry a kubeferry bundle."
    )
