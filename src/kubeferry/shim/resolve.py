"""The cold path of the wrapper: read the kubeconfig, ask the server, remember the answer."""

from __future__ import annotations

from kubeferry.core.kuberlr import GUARD
from kubeferry.core.skew import Version, parse_version
from kubeferry.shim.clientconfig import load_access
from kubeferry.shim.context import Context
from kubeferry.shim.credentials import needs_person
from kubeferry.shim.kubeconfig import ClusterAccess, KubeconfigError
from kubeferry.shim.probe import NOTEWORTHY, ProbeError, server_version
from kubeferry.shim.versioncache import VersionCache


class Outcome:
    """A server version and where it came from, or the reasons there is none.

    `problem` is set when the probe failed for a reason worth a line on stderr (TLS, credentials,
    proxy): the caller says it together with the fallback it chose.
    """

    __slots__ = ("problem", "reasons", "revalidate", "source", "version")

    def __init__(
        self, version: Version | None, source: str, reasons: list[str], problem: str | None = None
    ) -> None:
        self.version = version
        self.source = source
        self.reasons = reasons
        self.problem = problem
        self.revalidate = False  # the probe was skipped: check in the background instead


def _skipped(
    access: ClusterAccess, cache: VersionCache, print_: str, ctx: Context, why: str
) -> Outcome:
    """No probe while a person must answer the exec plugin: kubectl alone asks them, once."""
    known = cache.last_known(cluster_key=access.cluster_key) or cache.last_known(print_)
    version = parse_version(known) if known else None
    if version is not None:
        cache.remember_context(print_, access.cluster_key, ctx.now)
    outcome = Outcome(
        version,
        "last known" if version else "",
        [why],
        f"{why}, so only kubectl runs it (checking the server in the background)",
    )
    outcome.revalidate = True
    return outcome


def ask_server(paths: list[str], ctx: Context, cache: VersionCache, print_: str) -> Outcome:
    """GET /version; on failure the last version known for the cluster, and a `fail` line.

    An exec plugin that may ask a person (a terminal, interactiveMode IfAvailable or Always) is
    left to kubectl: the last known version is used and the detached refresher, which has no
    terminal, asks the server instead, so nobody is prompted twice.
    """
    try:
        access = load_access(paths, ctx.flags, ctx.environ)
    except KubeconfigError as exc:
        return Outcome(None, "", [f"no cluster to ask ({exc})"], str(exc))
    environ = dict(ctx.environ)
    environ.pop(GUARD, None)
    if person := needs_person(access):
        return _skipped(access, cache, print_, ctx, person)
    try:
        git_version = server_version(access, environ, ctx.config.timeout)
    except ProbeError as exc:
        cache.record_failure(print_, f"{access.cluster_key} {exc}", ctx.now)
        problem = str(exc) if exc.kind in NOTEWORTHY else None
        known = cache.last_known(cluster_key=access.cluster_key)
        if known and (version := parse_version(known)):
            cache.remember_context(print_, access.cluster_key, ctx.now)
            return Outcome(
                version,
                "last known",
                [f"{access.server} did not answer ({exc})", f"last known server version {known}"],
                problem,
            )
        return Outcome(
            None,
            "",
            [f"{access.server} did not answer ({exc}) and its version was never seen"],
            problem,
        )
    version = parse_version(git_version)
    if version is None:
        return Outcome(
            None, "", [f"{access.server} reported an unreadable version {git_version!r}"]
        )
    short = f"{version[0]}.{version[1]}.{version[2]}"
    cache.record(print_, access.cluster_key, short, git_version, ctx.now)
    return Outcome(version, "server", [f"server {access.server} is {git_version}"])
