"""Options every registry command shares: credentials, transport, and the client they make."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from kubeferry.net.oci import RegistryClient
from kubeferry.net.oci_auth import Credentials, docker_config_credentials, docker_config_path
from kubeferry.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach and log in to a registry, as the options said."""

    username: str | None
    password: str | None
    plain_http: bool

    def credentials(self, registry: str, settings: Settings) -> Credentials | None:
        """--username/--password-stdin, else Docker's config.json `auths`, else anonymous."""
        if self.username is not None:
            return Credentials(self.username, self.password or "", source="--username")
        home = Path(settings.environ.get("HOME") or settings.home)
        path = docker_config_path(settings.environ, home)
        return docker_config_credentials(registry, path)

    def client(self, registry: str, settings: Settings) -> RegistryClient:
        """A client for `registry` with these credentials and transport."""
        return RegistryClient(
            registry,
            credentials=self.credentials(registry, settings),
            plain_http=self.plain_http,
        )


def registry_options(function: F) -> F:
    """Add --username, --password-stdin and --plain-http; hand the command `access`."""

    @click.option("--username", metavar="USER", help="Registry user (else Docker's config.json).")
    @click.option(
        "--password-stdin", is_flag=True, help="Read the password or token from standard input."
    )
    @click.option(
        "--plain-http", is_flag=True, help="Talk HTTP, not HTTPS, to the registry (only if asked)."
    )
    @functools.wraps(function)
    def wrapper(
        *args: Any, username: str | None, password_stdin: bool, plain_http: bool, **kwargs: Any
    ) -> Any:
        if password_stdin and username is None:
            raise click.UsageError("--password-stdin needs --username")
        if username is not None and not password_stdin:
            raise click.UsageError("--username needs --password-stdin (the password on stdin)")
        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
        kwargs["access"] = RegistryAccess(username, password, plain_http)
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
