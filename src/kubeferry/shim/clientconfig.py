"""The cluster and user kubectl will use, as client-go's clientcmd chooses them (cold path).

Order: the merged kubeconfig files; `--context`, else `current-context`; `--cluster`/`--user`
over the context's; then the command-line overrides (`--server`, `--token`, ...) over the
entries. An override of `--certificate-authority` or `--insecure-skip-tls-verify` replaces both
CA settings; `--server` without `--tls-server-name` clears `tls-server-name`. When the result is
empty or equals the defaults (no usable current context, an empty `--kubeconfig`), client-go
tries the in-cluster configuration, then `KUBERNETES_MASTER`, then `http://localhost:8080`.
A server without a scheme is `http://`. A configuration kubectl itself refuses (two ways to log
in, a certificate as file and data) is a KubeconfigError saying so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kubeferry.shim.kubeconfig import (
    ClusterAccess,
    KubeconfigError,
    decode,
    exec_config,
    in_cluster,
    merge,
    relative,
)

CLUSTER_FLAGS = {
    "server": "server",
    "certificate-authority": "certificate-authority",
    "insecure-skip-tls-verify": "insecure-skip-tls-verify",
    "tls-server-name": "tls-server-name",
}
USER_FLAGS = {
    "token": "token",
    "username": "username",
    "password": "password",
    "client-certificate": "client-certificate",
    "client-key": "client-key",
    "as": "as",
    "as-uid": "as-uid",
}
PATH_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
DEFAULT_SERVER = "http://localhost:8080"  # what kubectl asks with no configuration at all


def _pick(kind: dict[Any, Any], name: str | None, flag: str | None, what: str) -> dict[str, Any]:
    entry = kind.get(name)  # a missing reference (None) finds an entry without a name
    if entry is None and flag:  # named on the command line: client-go requires it
        raise KubeconfigError(f"{what} {flag!r} (--{what}) is not in the kubeconfig")
    return {k: v for k, v in (entry or {}).items() if v not in (None, "", [], {}, False)}


def _given(flags: Mapping[str, str], names: Mapping[str, str]) -> dict[str, Any]:
    """The overrides among `flags`; a file named on the command line is read from here."""
    given = {names[k]: v for k, v in flags.items() if k in names and v}
    for key in PATH_KEYS:
        if key in given:
            given[key] = os.path.abspath(given[key])
    return given


def _cluster_overrides(cluster: dict[str, Any], flags: Mapping[str, str]) -> dict[str, Any]:
    given = _given(flags, CLUSTER_FLAGS)
    insecure = given.pop("insecure-skip-tls-verify", "") in GO_TRUE
    if insecure or "certificate-authority" in given:
        for key in ("certificate-authority", "certificate-authority-data"):
            cluster.pop(key, None)
        cluster.pop("insecure-skip-tls-verify", None)
        if insecure:
            cluster["insecure-skip-tls-verify"] = True
    if "tls-server-name" in given or "server" in given:
        cluster.pop("tls-server-name", None)
    cluster.update(given)
    return cluster


def _user_overrides(user: dict[str, Any], flags: Mapping[str, str]) -> dict[str, Any]:
    user.update(_given(flags, USER_FLAGS))
    if flags.get("as-group"):
        user["as-groups"] = flags["as-group"].split("\n")
    return user


def _validate(cluster: dict[str, Any], user: dict[str, Any]) -> None:
    """The checks of client-go's ConfirmUsable that make kubectl refuse to start."""
    problems = []
    for file_key in ("certificate-authority", "client-certificate", "client-key"):
        holder = cluster if file_key == "certificate-authority" else user
        if holder.get(file_key) and holder.get(file_key + "-data"):
            problems.append(f"{file_key} and {file_key}-data are both set")
    methods = [
        m
        for m, keys in (("token", ("token", "tokenFile")), ("basic auth", ("username", "password")))
        if any(user.get(k) for k in keys)
    ]
    if len(methods) > 1:
        problems.append(f"more than one way to log in ({' and '.join(methods)})")
    if user.get("exec") and user.get("auth-provider"):
        problems.append("an exec plugin and an auth-provider are both set")
    if cluster.get("insecure-skip-tls-verify") and (
        cluster.get("certificate-authority") or cluster.get("certificate-authority-data")
    ):
        problems.append("a CA together with insecure-skip-tls-verify")
    if problems:
        raise KubeconfigError(f"kubectl will refuse this configuration: {'; '.join(problems)}")


def _server_url(server: str) -> str:
    """A server without a scheme is plain http (client-go's DefaultServerURL before TLS)."""
    scheme, sep, rest = server.partition("://")
    if sep and scheme.lower() in ("http", "https") and rest:
        return server.rstrip("/")
    return f"http://{server}".rstrip("/")


def _fallback(environ: Mapping[str, str], flags: Mapping[str, str], why: str) -> ClusterAccess:
    """client-go's answer to an empty or default configuration: in-cluster, else the default."""
    access = in_cluster(environ)
    if access is not None:
        if flags.get("server"):
            access.server = _server_url(flags["server"])
        if flags.get("token"):
            access.token, access.token_file = flags["token"], None
        if flags.get("certificate-authority"):
            access.ca_file = os.path.abspath(flags["certificate-authority"])
        access.source.insert(0, why)
        return access
    server = environ.get("KUBERNETES_MASTER") or DEFAULT_SERVER
    where = "KUBERNETES_MASTER" if environ.get("KUBERNETES_MASTER") else "kubectl's default"
    return ClusterAccess(server=_server_url(server), context="", source=[why, f"{where} {server}"])


UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def request_timeout(text: str | None) -> float | None:
    """clientcmd's ParseTimeout: whole seconds, or a Go duration (`1m30s`); 0 is no timeout."""
    if not text:
        return None
    if text.isdigit():
        return float(text)
    total, number, index = 0.0, "", 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = next(
            (u for u in ("ns", "us", "µs", "ms", "h", "m", "s") if text.startswith(u, index)), None
        )
        if unit is None or not number:
            break
        total, number, index = total + float(number) * UNITS[unit], "", index + len(unit)
    else:
        if not number:
            return total
    raise KubeconfigError(f"--request-timeout {text!r} is not a duration (kubectl refuses it)")


def load_access(
    paths: list[str], flags: Mapping[str, str], environ: Mapping[str, str]
) -> ClusterAccess:
    """The cluster and user kubectl would use with these files, flags and variables."""
    access = _load(paths, flags, environ)
    access.request_timeout = request_timeout(flags.get("request-timeout"))
    return access


def _load(paths: list[str], flags: Mapping[str, str], environ: Mapping[str, str]) -> ClusterAccess:
    merged, current = merge(paths, explicit=bool(flags.get("kubeconfig")))
    name = flags.get("context") or current
    context = merged["contexts"].get(name) if name else None
    if name and context is None:
        raise KubeconfigError(f"context {name!r} is not in {', '.join(paths)}")
    context = context or {}
    cluster = _pick(
        merged["clusters"],
        flags.get("cluster") or context.get("cluster"),
        flags.get("cluster"),
        "cluster",
    )
    user = _pick(
        merged["users"], flags.get("user") or context.get("user"), flags.get("user"), "user"
    )
    cluster = _cluster_overrides(cluster, flags)
    user = _user_overrides(user, flags)
    _validate(cluster, user)
    has_cluster = any(not key.startswith("_") for key in cluster)
    has_user = any(not key.startswith("_") for key in user)
    master = environ.get("KUBERNETES_MASTER")
    if not has_cluster and not (master and has_user):  # empty, or equal to the defaults
        return _fallback(environ, flags, f"no usable current context in {', '.join(paths)}")
    if not cluster.get("server"):
        if not master:
            raise KubeconfigError(f"context {name!r} names a cluster without a server")
        cluster["server"] = master  # client-go's cluster defaults
    return _access(cluster, user, name or "", paths)


def _access(
    cluster: dict[str, Any], user: dict[str, Any], name: str, paths: list[str]
) -> ClusterAccess:
    cdir = cluster.get("_dir", "")
    udir = user.get("_dir", cdir)
    ca_bytes = decode(cluster.get("certificate-authority-data"), "certificate-authority-data")
    insecure = cluster.get("insecure-skip-tls-verify")
    return ClusterAccess(
        server=_server_url(str(cluster["server"])),
        context=name,
        ca_file=relative(cluster.get("certificate-authority"), cdir),
        ca_data=ca_bytes.decode("ascii", errors="replace") if ca_bytes else None,
        insecure=insecure is True or str(insecure) in GO_TRUE,
        tls_server_name=cluster.get("tls-server-name") or None,
        cert_file=relative(user.get("client-certificate"), udir),
        key_file=relative(user.get("client-key"), udir),
        cert_data=decode(user.get("client-certificate-data"), "client-certificate-data"),
        key_data=decode(user.get("client-key-data"), "client-key-data"),
        token=user.get("token") or None,
        token_file=relative(user.get("tokenFile"), udir),
        username=user.get("username") or None,
        password=user.get("password") or None,
        exec_config=exec_config(user, udir),
        auth_provider=user.get("auth-provider") or None,
        as_user=user.get("as") or None,
        as_groups=[str(g) for g in user.get("as-groups") or []] or None,
        as_uid=user.get("as-uid") or None,
        proxy_url=cluster.get("proxy-url") or None,
        extensions=cluster.get("extensions"),
        source=list(paths),
    )
