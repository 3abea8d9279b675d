"""Options every registry command shares: credentials, transport, and the client they make."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kubeferry.services.registry_access import RegistryAccess as RegistryAccess  # for the commands

F = TypeVar("F", bound=Callable[..., Any])


def read_password(username: str | None, password_stdin: bool) -> str | None:
    """The password from standard input; the two options go together (a usage error else)."""
    if password_stdin and username is None:
        raise click.UsageError("--password-stdin needs --username")
    if username is not None and not password_stdin:
        raise click.UsageError("--username needs --password-stdin (the password on stdin)")
    return sys.stdin.readline().rstrip("\r\n") if password_stdin else None


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
        password = read_password(username, password_stdin)
        kwargs["access"] = RegistryAccess(username, password, plain_http)
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
