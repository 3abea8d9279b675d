"""Options of every command that takes a bundle in: `--key PUB` and `--allow-unsigned`;
and the passphrase of a private key (`--password-stdin`, KUBEFERRY_KEY_PASSWORD)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from kubeferry.services.trust import KEY_PASSWORD_VARIABLE as PASSWORD_VARIABLE
from kubeferry.services.trust import trust_for

F = TypeVar("F", bound=Callable[..., Any])


def _environ() -> Mapping[str, str]:
    settings = click.get_current_context().find_root().obj
    return getattr(settings, "environ", None) or dict(os.environ)


def trust_options(function: F) -> F:
    """Add --key (repeatable) and --allow-unsigned; hand the command `trust`."""

    @click.option(
        "--key",
        "trust_keys",
        multiple=True,
        metavar="PUB",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Trust this public key (repeatable); replaces KUBEFERRY_TRUSTED_KEYS and the "
        "trusted-keys folder for this run.",
    )
    @click.option(
        "--allow-unsigned",
        is_flag=True,
        help="Take a bundle no trusted key signed, although trusted keys are configured.",
    )
    @functools.wraps(function)
    def wrapper(
        *args: Any, trust_keys: tuple[Path, ...], allow_unsigned: bool, **kwargs: Any
    ) -> Any:
        kwargs["trust"] = trust_for(tuple(trust_keys), allow_unsigned, _environ())
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def passphrase_option(flag: str) -> Callable[[F], F]:
    """Add `flag` (read a private key's passphrase from stdin); hand the command `password`."""

    def decorate(function: F) -> F:
        @click.option(
            flag,
            "key_password_stdin",
            is_flag=True,
            help="Read the private key's passphrase from standard input "
            f"(else {PASSWORD_VARIABLE}).",
        )
        @functools.wraps(function)
        def wrapper(*args: Any, key_password_stdin: bool, **kwargs: Any) -> Any:
            kwargs["password"] = read_key_password(key_password_stdin, _environ())
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


password_option = passphrase_option("--password-stdin")
"""`keys generate`, `bundle sign`: the only secret such a command reads."""
key_password_option = passphrase_option("--key-password-stdin")
"""`bundle create --sign-key`, whose --password-stdin is the source registry's password."""


def read_key_password(from_stdin: bool, environ: Mapping[str, str]) -> bytes | None:
    """The passphrase: the first line of standard input, else KUBEFERRY_KEY_PASSWORD, else None."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("--password-stdin read an empty passphrase")
        return line.encode("utf-8")
    value = environ.get(PASSWORD_VARIABLE)
    return value.encode("utf-8") if value else None
