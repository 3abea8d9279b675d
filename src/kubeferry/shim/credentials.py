"""Credentials for the probe as client-go finds them (cold path).

Only over https (client-go sends nothing over plain http). `tokenFile` beats `token` (also
`--token`: client-go keeps the file); a client certificate and its key each come from `-data`,
else the file; the exec plugin does not run when a token, basic auth or a client certificate is
set (client-go's rule); else an `oidc` auth-provider's id-token (`authprovider.py`). Exec
credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`) run with
`KUBERNETES_EXEC_INFO` (`spec.interactive`, and `spec.cluster` when `provideClusterInfo`), stdin
passed through only when it is a terminal and `interactiveMode` allows it (`Never`: never;
`IfAvailable`, the default: when a terminal; `Always`: a terminal is required), stderr passed
through as client-go does. A plugin that is not interactive gets kuberlr's `Timeout`; then it is
stopped with its whole process group. While it runs `KUBERLR_RESOLVING_VERSION` is set, so a
plugin that calls kubectl again does not probe again.
"""

from __future__ import annotations

import binascii
import json
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from kubeferry.core.kuberlr import GUARD
from kubeferry.shim.kubeconfig import ClusterAccess

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


class CredentialError(Exception):
    """A token file or exec plugin that gave no credential."""


def _stdin_is_terminal() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def interactive(config: Mapping[str, Any], terminal: bool) -> bool:
    """client-go's decision; CredentialError for `Always` without a terminal."""
    mode = str(config.get("interactiveMode") or "IfAvailable")
    if mode == "Never":
        return False
    if mode == "Always" and not terminal:
        raise CredentialError(
            f"exec plugin {config.get('command')} needs a terminal (interactiveMode: Always), "
            "and standard input is not one"
        )
    return terminal


def cluster_info(access: ClusterAccess) -> dict[str, Any]:
    """`spec.cluster` of KUBERNETES_EXEC_INFO, as client-go fills it (CA file read as data)."""
    info: dict[str, Any] = {"server": access.server}
    if access.tls_server_name:
        info["tls-server-name"] = access.tls_server_name
    if access.insecure:
        info["insecure-skip-tls-verify"] = True
    ca = access.ca_data.encode() if access.ca_data else None
    if ca is None and access.ca_file:
        try:
            with open(access.ca_file, "rb") as stream:
                ca = stream.read()
        except OSError as exc:
            raise CredentialError(f"cannot read {access.ca_file}: {exc.strerror}") from exc
    if ca:
        info["certificate-authority-data"] = binascii.b2a_base64(ca, newline=False).decode()
    if access.proxy_url:
        info["proxy-url"] = access.proxy_url
    for extension in access.extensions or []:
        if isinstance(extension, dict) and extension.get("name") == (
            "client.authentication.k8s.io/exec"
        ):
            info["config"] = extension.get("extension")
    return info


def _stop(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (OSError, AttributeError):
        child.kill()


def _plugin_environment(
    access: ClusterAccess, environ: Mapping[str, str], api_version: str, attached: bool
) -> dict[str, str]:
    config = access.exec_config or {}
    spec: dict[str, Any] = {"interactive": attached}
    if config.get("provideClusterInfo"):
        spec["cluster"] = cluster_info(access)
    env = dict(environ)
    for item in config.get("env") or []:
        if isinstance(item, dict):
            env[str(item.get("name"))] = str(item.get("value"))
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": spec}
    )
    env[GUARD] = "1"
    return env


def run_plugin(access: ClusterAccess, environ: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Run the exec plugin of `access`; its ExecCredential `status`."""
    config = access.exec_config or {}
    command = str(config.get("command") or "")
    if not command:
        raise CredentialError("exec credential plugin without a command")
    api_version = str(config.get("apiVersion") or API_VERSIONS[0])
    if api_version not in API_VERSIONS:
        raise CredentialError(f"exec plugin {command}: apiVersion {api_version} is not supported")
    attached = interactive(config, _stdin_is_terminal())
    env = _plugin_environment(access, environ, api_version, attached)
    import subprocess  # only for exec plugins: 2 ms of every other cold call

    argv = [command, *[str(a) for a in config.get("args") or []]]
    try:
        child = subprocess.Popen(
            argv,
            env=env,
            stdin=None if attached else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,  # the plugin talks to the person, as under kubectl
            start_new_session=not attached and not sys.platform.startswith("win"),
        )
    except OSError as exc:
        hint = f" ({config['installHint']})" if config.get("installHint") else ""
        raise CredentialError(
            f"exec plugin {command} could not start: {exc.strerror}{hint}"
        ) from exc
    try:
        out, _ = child.communicate(timeout=None if attached else timeout)
    except subprocess.TimeoutExpired:
        _stop(child)
        child.communicate()
        raise CredentialError(
            f"exec plugin {command} gave no credential within {timeout:g} s (kuberlr's Timeout)"
        ) from None
    except BaseException:
        _stop(child)
        raise
    if child.returncode != 0:
        raise CredentialError(f"exec plugin {command} exited {child.returncode}")
    try:
        status = json.loads(out).get("status") or {}
    except (ValueError, AttributeError) as exc:
        raise CredentialError(f"exec plugin {command} printed no ExecCredential") from exc
    return status if isinstance(status, dict) else {}


def _read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialError(f"cannot read token file {path}: {exc}") from exc


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as exc:
        raise CredentialError(f"cannot read {path}: {exc.strerror}") from exc


def client_pair(access: ClusterAccess) -> tuple[bytes, bytes] | None:
    """Certificate and key, each from its `-data` or else its file (client-go's rule)."""
    has_cert = access.cert_data or access.cert_file
    has_key = access.key_data or access.key_file
    if not (has_cert and has_key):
        return None
    cert = access.cert_data or _read(access.cert_file or "")
    key = access.key_data or _read(access.key_file or "")
    return cert, key


def _plugin_applies(access: ClusterAccess) -> bool:
    """client-go skips the exec plugin when a token, basic auth or a client cert is set."""
    has_cert = (access.cert_data or access.cert_file) and (access.key_data or access.key_file)
    given = access.token or access.token_file or access.username or has_cert
    return bool(access.tls and access.exec_config and not given)


def needs_person(access: ClusterAccess) -> str | None:
    """Why the probe must not run the exec plugin now (it may ask a person), or None."""
    if not _plugin_applies(access):
        return None
    config = access.exec_config or {}
    try:
        if not interactive(config, _stdin_is_terminal()):
            return None
    except CredentialError:
        return None  # `Always` without a terminal: the probe says so itself
    mode = config.get("interactiveMode") or "IfAvailable"
    return f"the exec plugin {config.get('command')} may ask for input (interactiveMode {mode})"


def _impersonation(access: ClusterAccess) -> list[tuple[str, str]]:
    if not access.as_user:  # client-go impersonates only with a user named
        return []
    headers = [("Impersonate-Group", group) for group in access.as_groups or []]
    if access.as_uid:
        headers.append(("Impersonate-Uid", access.as_uid))
    return [*headers, ("Impersonate-User", access.as_user)]  # Go writes headers sorted


def credentials(
    access: ClusterAccess, environ: Mapping[str, str], timeout: float
) -> tuple[list[tuple[str, str]], tuple[bytes, bytes] | None]:
    """(headers, client certificate and key as PEM bytes) for the probe's request.

    Over plain http client-go sends no credentials at all and runs no exec plugin.
    """
    headers = _impersonation(access)
    if not access.tls:
        return headers, None
    cert = client_pair(access)
    token = _read_token(access.token_file) if access.token_file else access.token
    if _plugin_applies(access):
        status = run_plugin(access, environ, timeout)
        token = status.get("token") or None
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            cert = (
                str(status["clientCertificateData"]).encode(),
                str(status["clientKeyData"]).encode(),
            )
    if not (token or cert or access.username or access.auth_provider or access.exec_config):
        raise CredentialError(  # client-go's prompting auth loader, on kubectl's stdin
            f"no credentials for {access.server}: kubectl asks for a user name and password on "
            "its standard input, and the probe asks nobody"
        )
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    elif access.username:
        pair = f"{access.username}:{access.password or ''}".encode()
        basic = binascii.b2a_base64(pair, newline=False).decode()
        headers.append(("Authorization", f"Basic {basic}"))
    elif access.auth_provider:
        from kubeferry.shim.authprovider import provider_token

        headers.append(("Authorization", f"Bearer {provider_token(access.auth_provider)}"))
    return headers, cert
