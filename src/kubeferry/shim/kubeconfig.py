"""Kubeconfig loading for the version probe (cold path: imports PyYAML).

Several files merge as client-go merges them: the first file to name a context, cluster or user
wins, and `current-context` comes from the first file that sets it. Relative file references are
relative to the file that holds them, and so is an exec `command` that contains a path separator
(client-go's `ResolveLocalPaths`). Choosing the context, cluster and user, the command-line
overrides and client-go's fallbacks (in-cluster, `KUBERNETES_MASTER`) live in `clientconfig.py`.
"""

from __future__ import annotations

import binascii  # base64 itself costs the cold path 5 ms more
import hashlib
import os
from collections.abc import Mapping
from typing import Any


class KubeconfigError(Exception):
    """No usable cluster in the kubeconfig."""


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
    "as_user",
    "as_groups",
    "as_uid",
    "auth_provider",
    "request_timeout",
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
    as_user: str | None
    as_groups: list[str] | None
    as_uid: str | None
    auth_provider: dict[str, Any] | None
    request_timeout: float | None  # --request-timeout in seconds; 0: none

    @property
    def tls(self) -> bool:
        """client-go sends credentials and TLS settings only to an https server."""
        return self.server.startswith("https://")

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
                self.password,
                self.key_file,
                self.exec_config and sorted(self.exec_config.items(), key=str),
                self.auth_provider and sorted(self.auth_provider.items(), key=str),
                self.proxy_url,
                self.ca_file,
                self.ca_data,
                self.insecure,
                self.tls_server_name,
            )
        )
        digest = hashlib.sha256(material.encode()).hexdigest()[:16]
        return f"{self.server}#{digest}"


def _load_yaml(path: str, *, explicit: bool = False) -> dict[str, Any]:
    import yaml

    if explicit and not os.path.exists(path):  # client-go: a named file must exist
        raise KubeconfigError(f"--kubeconfig {path} does not exist (kubectl will fail too)")
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


def relative(value: Any, folder: str) -> str | None:
    if not value:
        return None
    text = os.path.expanduser(str(value))
    return text if os.path.isabs(text) else os.path.join(folder, text)


def decode(value: Any, what: str) -> bytes | None:
    if not value:
        return None
    try:
        return binascii.a2b_base64(str(value).encode())
    except (ValueError, binascii.Error) as exc:
        raise KubeconfigError(f"{what} is not base64") from exc


def merge(
    paths: list[str], *, explicit: bool = False
) -> tuple[dict[str, dict[Any, Any]], str | None]:
    """kind -> name -> entry (with its file's folder as `_dir`), and the first current-context
    (names as the YAML has them: a missing one is None, as a reference that is missing is)."""
    merged: dict[str, dict[Any, Any]] = {"contexts": {}, "clusters": {}, "users": {}}
    current: str | None = None
    for path in paths:
        document = _load_yaml(path, explicit=explicit)
        folder = os.path.dirname(os.path.abspath(path))
        current = current or document.get("current-context") or None
        for kind, inner in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for item in document.get(kind) or []:
                if isinstance(item, dict) and item.get("name") not in merged[kind]:
                    merged[kind][item.get("name")] = {**(item.get(inner) or {}), "_dir": folder}
    return merged, current


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


def exec_config(user: dict[str, Any], folder: str) -> dict[str, Any] | None:
    config = user.get("exec")
    if not isinstance(config, dict) or not config:
        return None
    command = str(config.get("command") or "")
    if os.sep in command or (os.altsep and os.altsep in command):
        config = {**config, "command": relative(command, folder)}
    return config
