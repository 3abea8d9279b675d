"""containerd's `hosts.toml` mirror files: one per registry host (pure: values in, text out).

    <DIR>/docker.io/hosts.toml
        server = "https://registry-1.docker.io"
        [host."http://mirror.example:8080"]
          capabilities = ["pull", "resolve"]
          skip_verify = true                     # --insecure-skip-verify
          ca = "/etc/ssl/company.pem"            # --ca-file

A mirror with a path prefix (`images push --to HOST/PREFIX`) is written as
`[host."https://HOST/v2/PREFIX"]` with `override_path = true`, containerd's equivalent of k3s's
`rewrite`. A kubeferry mirror keeps registry paths and reads containerd's `?ns=`, so it needs
neither. Plain containerd (`config_path`), nerdctl and `ctr --hosts-dir` read these files.
"""

from __future__ import annotations

import json
from typing import Final

from kubeferry.core.image_names import DOCKER_HUB, parse_registry
from kubeferry.registry.registries_yaml import MirrorSettings

UPSTREAM_SERVERS: Final = {DOCKER_HUB: "https://registry-1.docker.io"}


def _quoted(text: str) -> str:
    return json.dumps(text)  # a TOML basic string is a JSON string for these characters


def hosts_toml(settings: MirrorSettings, registry: str) -> str:
    """The `hosts.toml` that sends pulls of `registry` to the mirror first."""
    host, prefix = parse_registry(settings.mirror)
    plain = settings.plain_http or settings.mirror.strip().startswith("http://")
    url = f"{'http' if plain else 'https'}://{host}"
    if prefix:
        url = f"{url}/v2/{prefix}"
    server = UPSTREAM_SERVERS.get(registry, f"https://{registry}")
    lines = [
        f"server = {_quoted(server)}",
        "",
        f"[host.{_quoted(url)}]",
        '  capabilities = ["pull", "resolve"]',
    ]
    if prefix:
        lines.append("  override_path = true")
    if settings.insecure_skip_verify:
        lines.append("  skip_verify = true")
    if settings.ca_file:
        lines.append(f"  ca = {_quoted(settings.ca_file)}")
    return "\n".join(lines) + "\n"
