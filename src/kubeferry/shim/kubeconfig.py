"""Kubeconfig loading for the version probe (cold path: imports PyYAML).

Several files merge as client-go merges them: the first file to name a context, cluster or user
wins, and `current-context` comes from the first file that sets it. Relative file references are
relative to the file that holds them, and so is an exec `command` that contains a path separator
(client-go's `ResolveLocalPaths`). With no kubeconfig content at all (and no `--kubeconfig`), the
in-cluster configuration is used when a pod provides it, as client-go does.
"""

from __future__ import annotations

import binascii  # base64 itself costs the cold path 5 ms more
import hashlib
import os
from collections.abc import Mapping
from typing import Any


class KubeconfigError(Exception):
    """No usable cluster in the kubeconfig."""


class EmptyKubeconfigError(KubeconfigError):
    """No kubeconfig content at all (client-go then tries the in-cluster configuration)."""


_FIELDS = (
    "server",
    "context",
    "ca_file",
    "ca_data",
    "insecure",
    "tls_server_name",
    "cert_file",
    "key_file",
    "cert_data",
    "key_data",
    "token",
    "token_file",
    "username",
    "password",
    "exec_config",
    "proxy_url",
    "extensions",
    "source",
)
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_DIR_VARIABLE = "KUBEFERRY_SERVICEACCOUNT_DIR"  # tests point it at their files


class ClusterAccess:
    """How to reach one cluster as one user (a plain class: dataclasses cost 10 ms to import)."""

    __slots__ = _FIELDS
    server: str
    context: str
    ca_file: str | None
    ca_data: str | None
    insecure: bool
    tls_server_name: str | None
    cert_file: str | None
    key_file: str | None
    cert_data: bytes | None
    key_data: bytes | None
    token: str | None
    token_file: str | None
    username: str | None
    password: str | None
    exec_config: dict[str, Any] | None
    proxy_url: str | None
    extensions: Any
    source: list[str]

    def __init__(self, **values: Any) -> None:
        for name in _FIELDS:
            setattr(self, name, values.get(name))
        self.insecure = bool(self.insecure)
        self.source = list(self.source or [])

    @property
    def cluster_key(self) -> str:
        """Server URL plus a digest of the credentials (never the credentials themselves)."""
        material = repr(
            (
                self.cert_file,
                self.cert_data,
                self.token,
                self.token_file,
                self.username,
                self.exec_config and sorted(self.exec_config.items(), key=str),
                self.proxy_url,
            )
        )
        digest = hashlib.sha256(material.encode()).hexdigest()[:16]
        return f"{self.server}#{digest}"


def _load_yaml(path: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.load(stream, Loader=loader)  # noqa: S506 - a safe loader
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a mapping")
    return document


def _relative(value: Any, folder: str) -> str | None:
    if not value:
        return None
    text = os.path.expanduser(str(value))
    return text if os.path.isabs(text) else os.path.join(folder, text)


def _decode(value: Any, what: str) -> bytes | None:
    if not value:
        return None
    try:
        return binascii.a2b_base64(str(value).encode())
    except (ValueError, binascii.Error) as exc:
        raise KubeconfigError(f"{what} is not base64") from exc


def _merge(paths: list[str]) -> tuple[dict[str, dict[Any, Any]], str | None]:
    """name -> (kind, entry, folder), and the first current-context (names as the YAML has
    them: a missing one is None, as a reference that is missing is)."""
    merged: dict[str, dict[Any, Any]] = {"contexts": {}, "clusters": {}, "users": {}}
    current: str | None = None
    for path in paths:
        document = _load_yaml(path)
        folder = os.path.dirname(os.path.abspath(path))
        current = current or document.get("current-context") or None
        for kind, inner in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for item in document.get(kind) or []:
                if isinstance(item, dict) and item.get("name") not in merged[kind]:
                    merged[kind][item.get("name")] = {**(item.get(inner) or {}), "_dir": folder}
    return merged, current


def load_access(
    paths: list[str],
    context: str | None,
    environ: Mapping[str, str] | None = None,
    *,
    explicit: bool = False,
) -> ClusterAccess:
    """The cluster and user of `context` (default: current-context) across `paths`.

    No content in any file and no `--kubeconfig` (`explicit`): the in-cluster configuration.
    """
    try:
        return _from_kubeconfig(paths, context)
    except EmptyKubeconfigError:
        if explicit or environ is None:
            raise
        access = in_cluster(environ)
        if access is None:
            raise
        return access


def in_cluster(environ: Mapping[str, str]) -> ClusterAccess | None:
    """client-go's InClusterConfig: service host and port, the service account token and CA."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "")
    port = environ.get("KUBERNETES_SERVICE_PORT", "")
    folder = environ.get(SERVICE_ACCOUNT_DIR_VARIABLE) or SERVICE_ACCOUNT_DIR
    token = os.path.join(folder, "token")
    if not host or not port or not os.path.isfile(token):
        return None
    ca = os.path.join(folder, "ca.crt")
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ClusterAccess(
        server=f"https://{netloc}",
        context="in-cluster",
        ca_file=ca if os.path.isfile(ca) else None,
        token_file=token,
        source=[f"in-cluster configuration ({folder})"],
    )


def _exec_config(user: dict[str, Any], folder: str) -> dict[str, Any] | None:
    config = user.get("exec")
    if not isinstance(config, dict) or not config:
        return None
    command = str(config.get("command") or "")
    if os.sep in command or (os.altsep and os.altsep in command):
        config = {**config, "command": _relative(command, folder)}
    return config


def _from_kubeconfig(paths: list[str], context: str | None) -> ClusterAccess:
    merged, current = _merge(paths)
    if not any(merged.values()) and not current:
        raise EmptyKubeconfigError(f"no kubeconfig content in {', '.join(paths)}")
    name = context or current
    if not name:
        raise KubeconfigError(f"no current-context in {', '.join(paths)} and no --context given")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        raise KubeconfigError(f"context {name!r} is not in {', '.join(paths)}")
    cluster = merged["clusters"].get(ctx.get("cluster"))
    if not cluster or not cluster.get("server"):
        raise KubeconfigError(
            f"context {name!r} names cluster {ctx.get('cluster')!r}, which has no server"
        )
    user = merged["users"].get(ctx.get("user")) or {}
    cdir, udir = cluster["_dir"], user.get("_dir", cluster["_dir"])
    ca_bytes = _decode(cluster.get("certificate-authority-data"), "certificate-authority-data")
    return ClusterAccess(
        server=str(cluster["server"]).rstrip("/"),
        context=name,
        ca_file=_relative(cluster.get("certificate-authority"), cdir),
        ca_data=ca_bytes.decode("ascii", errors="replace") if ca_bytes else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        cert_file=_relative(user.get("client-certificate"), udir),
        key_file=_relative(user.get("client-key"), udir),
        cert_data=_decode(user.get("client-certificate-data"), "client-certificate-data"),
        key_data=_decode(user.get("client-key-data"), "client-key-data"),
        token=user.get("token") or None,
        token_file=_relative(user.get("tokenFile"), udir),
        username=user.get("username") or None,
        password=user.get("password") or None,
        exec_config=_exec_config(user, udir),
        proxy_url=cluster.get("proxy-url") or None,
        extensions=cluster.get("extensions"),
        source=list(paths),
    )
