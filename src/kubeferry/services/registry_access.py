"""How a command reaches and logs in to a registry: its options made into a client.

Kept apart from services/registry.py (push, pull, install from a registry) so that a command
which only needs a client, such as `bundle create --image`, does not import the push and pull
machinery at start-up (about 20 ms of every such command).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeferry.oci.auth import Credentials, docker_config_credentials, docker_config_path
from kubeferry.oci.client import RegistryClient
from kubeferry.services.common import transfer_policy
from kubeferry.settings import Settings
from kubeferry.transport import http


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach and log in to a registry, as the options said."""

    username: str | None = None
    password: str | None = None
    plain_http: bool = False

    def credentials(self, registry: str, settings: Settings) -> Credentials | None:
        """--username/--password-stdin, else Docker's config.json `auths`, else anonymous."""
        if self.username is not None:
            return Credentials(self.username, self.password or "", source="--username")
        home = Path(settings.environ.get("HOME") or settings.home)
        return docker_config_credentials(registry, docker_config_path(settings.environ, home))

    def client(self, registry: str, settings: Settings) -> RegistryClient:
        """A client for `registry` (the offline gate first)."""
        scheme = "http" if self.plain_http else "https"
        http.ensure_online(settings.offline, f"{scheme}://{registry}/v2/")
        return RegistryClient(
            registry,
            credentials=self.credentials(registry, settings),
            plain_http=self.plain_http,
            cancel=settings.cancel,
            policy=transfer_policy(settings),
        )
