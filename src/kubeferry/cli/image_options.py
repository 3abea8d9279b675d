"""`bundle create`'s workload image options, gathered into one ImageRequest."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kubeferry.cli.registry_options import read_password
from kubeferry.services.bundle_images import ImageRequest

F = TypeVar("F", bound=Callable[..., Any])


def image_options(function: F) -> F:
    """Add --image, --images-file, --platform and --source-endpoint; hand the command `images`."""

    @click.option(
        "--image",
        "image_refs",
        multiple=True,
        metavar="REF",
        help="A workload image to carry (repeatable): busybox, ghcr.io/org/app:1.2@sha256:...",
    )
    @click.option(
        "--images-file",
        type=click.Path(path_type=Path),
        default=None,
        help="A file of image references, one a line (# comments).",
    )
    @click.option(
        "--platform",
        "platforms",
        multiple=True,
        metavar="OS/ARCH",
        help="Image platforms to keep (repeatable; default linux/<arch> for each --arch; all).",
    )
    @click.option(
        "--source-endpoint",
        "source_endpoints",
        multiple=True,
        metavar="HOST=URL",
        help="Fetch images of HOST from URL (a pull-through cache); KUBEFERRY_SOURCE_ENDPOINTS.",
    )
    @click.option(
        "--username",
        metavar="USER",
        help="Source registry user for --image (else Docker's config.json).",
    )
    @click.option(
        "--password-stdin", is_flag=True, help="Read the source registry password from stdin."
    )
    @functools.wraps(function)
    def wrapper(
        *args: Any,
        image_refs: tuple[str, ...],
        images_file: Path | None,
        platforms: tuple[str, ...],
        source_endpoints: tuple[str, ...],
        username: str | None,
        password_stdin: bool,
        **kwargs: Any,
    ) -> Any:
        password = read_password(username, password_stdin)
        kwargs["images"] = ImageRequest(
            image_refs, images_file, platforms, source_endpoints, username, password
        )
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
