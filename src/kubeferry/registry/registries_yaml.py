"""k3s `registries.yaml`: build one for a mirror, and check one (pure: values in, values out).

    mirrors:
      docker.io:
        endpoint: ["https://registry.example:5000"]
        rewrite: {"^(.*)$": "mirror/$1"}        # only when the mirror has a path prefix
    configs:
      "registry.example:5000":
        tls: {ca_file: /etc/ssl/company.pem}    # or insecure_skip_verify: true
        auth: {username: ..., password: ...}

`kubeferry images push --to HOST/PREFIX` keeps each image's repository path under PREFIX, so
the rewrite above is exactly what makes containerd find it. Rancher Desktop issue #6959 was a
`rewrite:` indented one level too far out; `check_registries` names that mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import yaml

from kubeferry.core.image_names import parse_registry
from kubeferry.errors import RegistriesFileError

DEFAULT_REGISTRIES: Final = ("docker.io", "registry.k8s.io", "ghcr.io", "quay.io")
_MIRROR_KEYS: Final = frozenset({"endpoint", "rewrite"})
_TLS_KEYS: Final = {"ca_file": str, "cert_file": str, "key_file": str, "insecure_skip_verify": bool}
_AUTH_KEYS: Final = frozenset({"username", "password", "auth", "identitytoken"})


@dataclass(frozen=True)
class MirrorSettings:
    """What `registries write` was asked for."""

    mirror: str
    registries: tuple[str, ...] = DEFAULT_REGISTRIES
    plain_http: bool = False
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    username: str | None = None
    password: str | None = None


RANCHER_DESKTOP_HOST: Final = "host.rancher-desktop.internal"
"""The name Rancher Desktop's VM gives the host, on Lima (macOS, Linux) and on WSL (Windows);
Lima also answers `host.lima.internal`."""
_LOOPBACK: Final = frozenset({"localhost", "::1"})


def loopback_mirror(mirror: str) -> str | None:
    """The advice for a mirror at 127.0.0.1/localhost seen from Rancher Desktop's VM, else None."""
    host, prefix = parse_registry(mirror)
    parts = urlsplit(f"//{host}")
    name, port = (parts.hostname or "").lower(), parts.port
    if name not in _LOOPBACK and not name.startswith("127."):
        return None
    better = RANCHER_DESKTOP_HOST + (f":{port}" if port else "") + (f"/{prefix}" if prefix else "")
    return (
        f"the mirror {host} is a loopback address: inside Rancher Desktop's VM that is the VM "
        f"itself, not this machine, so k3s would not reach it. Rancher Desktop names the host "
        f"{RANCHER_DESKTOP_HOST} (on Lima also host.lima.internal): write it again with "
        f"--mirror {better} (the registry must listen on an address the VM reaches, not only "
        "on 127.0.0.1)."
    )


def build_registries(settings: MirrorSettings) -> dict[str, Any]:
    """The registries.yaml document for `settings` (validated before it is returned)."""
    host, prefix = parse_registry(settings.mirror)
    plain = settings.plain_http or settings.mirror.strip().startswith("http://")
    endpoint = f"{'http' if plain else 'https'}://{host}"
    mirrors: dict[str, Any] = {}
    for registry in dict.fromkeys(settings.registries):
        entry: dict[str, Any] = {"endpoint": [endpoint]}
        if prefix:
            entry["rewrite"] = {"^(.*)$": f"{prefix}/$1"}
        mirrors[registry] = entry
    config: dict[str, Any] = {}
    tls: dict[str, Any] = {}
    if settings.ca_file:
        tls["ca_file"] = settings.ca_file
    if settings.insecure_skip_verify:
        tls["insecure_skip_verify"] = True
    if tls:
        config["tls"] = tls
    if settings.username is not None:
        config["auth"] = {"username": settings.username, "password": settings.password or ""}
    document: dict[str, Any] = {"mirrors": mirrors}
    if config:
        document["configs"] = {host: config}
    problems = check_registries(document)
    if problems:
        raise RegistriesFileError(
            f"the registries.yaml built for {settings.mirror} would be invalid: "
            f"{'; '.join(problems)}. Check --mirror and --registry.",
        )
    return document


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (`*name`: a 400-byte file of nested aliases expands
    to gigabytes) and without duplicate keys (PyYAML keeps the last one silently)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Refuse an alias before it is expanded."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                f"uses the YAML alias *{event.anchor}; kubeferry reads registries files without "
                "aliases (they can expand without bound): write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        """A mapping whose keys are unique (the key and both lines named otherwise)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:
                    continue  # an unhashable key: the constructor names it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"has the key {key!r} twice (lines {first + 1} and {line + 1}); YAML "
                        "readers keep only one of them, so it is not clear which is meant: "
                        "remove the other",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """One YAML document without aliases or duplicate keys (yaml.YAMLError otherwise)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


def render_registries(document: Mapping[str, Any]) -> str:
    """The YAML text, parsed back and checked before anyone writes it."""
    text = yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)
    problems = check_registries(yaml.safe_load(text))
    if problems:
        raise RegistriesFileError(f"registries.yaml did not survive a round trip: {problems}")
    return text


def _check_endpoint(where: str, url: Any) -> list[str]:
    if not isinstance(url, str):
        return [f"{where}: an endpoint is {type(url).__name__}, not a URL string"]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [f"{where}: endpoint {url!r} is not an http:// or https:// URL with a host"]
    return []


def _check_mirror(host: str, entry: Any) -> list[str]:
    where = f"mirrors.{host}"
    if host in _MIRROR_KEYS:
        return [
            f"mirrors has a registry named {host!r}: '{host}:' is probably mis-indented "
            "(it belongs under a registry, two spaces further in)"
        ]
    if not isinstance(entry, Mapping):
        return [f"{where} is {type(entry).__name__}, not a mapping with endpoint/rewrite"]
    problems = [f"{where}: unknown key {key!r}" for key in entry if key not in _MIRROR_KEYS]
    endpoints = entry.get("endpoint")
    if endpoints is not None and not isinstance(endpoints, list):
        problems.append(f"{where}.endpoint is {type(endpoints).__name__}, not a list of URLs")
    for url in endpoints or [] if isinstance(endpoints, list) else []:
        problems += _check_endpoint(f"{where}.endpoint", url)
    rewrite = entry.get("rewrite")
    if rewrite is not None:
        if not isinstance(rewrite, Mapping):
            problems.append(f"{where}.rewrite is not a mapping of regular expression -> text")
        else:
            for pattern, replacement in rewrite.items():
                try:
                    re.compile(str(pattern))
                except re.error as exc:
                    problems.append(
                        f"{where}.rewrite {pattern!r} is not a regular expression: {exc}"
                    )
                if not isinstance(replacement, str):
                    problems.append(f"{where}.rewrite {pattern!r} maps to a non-string")
    return problems


def _check_config(host: str, entry: Any) -> list[str]:
    where = f"configs.{host}"
    if not isinstance(entry, Mapping):
        return [f"{where} is {type(entry).__name__}, not a mapping with tls/auth"]
    problems = [f"{where}: unknown key {key!r}" for key in entry if key not in ("tls", "auth")]
    tls, auth = entry.get("tls"), entry.get("auth")
    if tls is not None:
        if not isinstance(tls, Mapping):
            problems.append(f"{where}.tls is not a mapping")
        else:
            for key, value in tls.items():
                kind = _TLS_KEYS.get(key)
                if kind is None:
                    problems.append(f"{where}.tls: unknown key {key!r}")
                elif not isinstance(value, kind):
                    problems.append(f"{where}.tls.{key} must be a {kind.__name__}")
    if auth is not None:
        if not isinstance(auth, Mapping):
            problems.append(f"{where}.auth is not a mapping")
        else:
            problems += [f"{where}.auth: unknown key {k!r}" for k in auth if k not in _AUTH_KEYS]
            problems += [
                f"{where}.auth.{k} must be text"
                for k, v in auth.items()
                if k in _AUTH_KEYS and not isinstance(v, str)
            ]
    return problems


def check_registries(document: Any) -> list[str]:
    """Every problem k3s would trip over (or silently ignore) in a registries.yaml document."""
    if document is None:
        return []
    if not isinstance(document, Mapping):
        return [f"the document is {type(document).__name__}, not a mapping"]
    problems = [
        f"unknown top-level key {key!r} (k3s reads mirrors and configs)"
        for key in document
        if key not in ("mirrors", "configs")
    ]
    for name, check in (("mirrors", _check_mirror), ("configs", _check_config)):
        section = document.get(name)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            problems.append(f"{name} is {type(section).__name__}, not a mapping of registries")
            continue
        for host, entry in section.items():
            problems += check(str(host), entry)
    return problems


def merge_registries(existing: Any, ours: Mapping[str, Any]) -> dict[str, Any]:
    """`existing` with our mirrors and configs put in (other registries and keys kept).

    A mirror entry is ours to replace (its endpoint is what was asked for); a config entry is
    merged key by key, so writing `tls` for a host keeps the `auth` the user already had.
    """
    merged = dict(existing) if isinstance(existing, Mapping) else {}
    for section in ("mirrors", "configs"):
        if section in ours:
            current = merged.get(section)
            combined = dict(current) if isinstance(current, Mapping) else {}
            for host, entry in ours[section].items():
                old = combined.get(host)
                if section == "configs" and isinstance(old, Mapping):
                    entry = {**old, **entry}
                    for key in ("tls", "auth"):
                        if isinstance(old.get(key), Mapping) and key in ours[section][host]:
                            entry[key] = {**old[key], **ours[section][host][key]}
                combined[host] = entry
            merged[section] = combined
    return merged


def has_credentials(document: Mapping[str, Any]) -> bool:
    """True when any config carries `auth` (the file must then not be world-readable)."""
    configs = document.get("configs")
    return isinstance(configs, Mapping) and any(
        isinstance(entry, Mapping) and entry.get("auth") for entry in configs.values()
    )


def mirrored_registries(document: Any) -> Sequence[str]:
    """The registries a document mirrors (for doctor's summary)."""
    mirrors = document.get("mirrors") if isinstance(document, Mapping) else None
    return sorted(str(host) for host in mirrors) if isinstance(mirrors, Mapping) else []
