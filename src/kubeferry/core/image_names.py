"""Registry references and image names (pure: no network library).

`registry.example:5000/platform/offline:2026-11` names a registry host, a repository and a tag
(or `@sha256:...` a digest). Image names from an airgap archive follow Docker's rules: no host
means `docker.io`, no namespace on Docker Hub means `library/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kubeferry.errors import RegistryError

DOCKER_HUB: Final = "docker.io"
_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY: Final = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST: Final = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    """A registry, a repository in it, and a tag or a digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes after `/manifests/`: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag or 'latest'}"
        return f"{self.registry}/{self.repository}{suffix}"


def looks_like_host(word: str) -> bool:
    """Docker's rule: the first part is a host when it has a dot or a port, or is localhost."""
    return ("." in word or ":" in word or word == "localhost") and bool(_HOST.match(word))


def _bad(text: str, why: str) -> RegistryError:
    return RegistryError(
        f"{text!r} is not a registry reference ({why}). Write it as "
        "HOST[:PORT]/REPOSITORY[:TAG], for example registry.example:5000/platform/offline:2026-11.",
        url=text,
    )


def _split_name(text: str, rest: str) -> tuple[str, str | None, str | None]:
    """`repo[:tag][@digest]` into its parts, each checked."""
    name, _, digest = rest.partition("@")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
        if not _TAG.match(tag):
            raise _bad(text, f"the tag {tag!r} has characters a tag cannot have")
    if digest and not _DIGEST.match(digest):
        raise _bad(text, f"the digest {digest!r} is not sha256:<64 hex digits>")
    if not _REPOSITORY.match(name):
        raise _bad(text, f"the repository {name!r} must be lowercase letters, digits, . _ - /")
    return name, tag, digest or None


def parse_reference(text: str, *, default_tag: str | None = "latest") -> Reference:
    """A reference that names its registry host explicitly; RegistryError otherwise."""
    host, slash, rest = text.strip().partition("/")
    if not slash or not looks_like_host(host):
        raise _bad(text, "it does not start with a registry host such as registry.example:5000")
    name, tag, digest = _split_name(text, rest)
    return Reference(host, name, tag or (None if digest else default_tag), digest)


def parse_registry(text: str) -> tuple[str, str]:
    """`HOST[:PORT][/PREFIX]` into (host, prefix): where `images push --to` puts images."""
    cleaned = text.strip().rstrip("/")
    for scheme in ("https://", "http://"):
        if cleaned.startswith(scheme):
            cleaned = cleaned[len(scheme) :]
    host, _, prefix = cleaned.partition("/")
    if not looks_like_host(host) or (prefix and not _REPOSITORY.match(prefix)):
        raise _bad(text, "a registry is HOST[:PORT] with an optional /PATH prefix")
    return host, prefix


def normalize_image_name(name: str) -> Reference:
    """`rancher/x:1` -> docker.io/rancher/x:1; `busybox` -> docker.io/library/busybox:latest."""
    first, slash, rest = name.partition("/")
    if slash and looks_like_host(first):
        host, remainder = first, rest
    else:
        host, remainder = DOCKER_HUB, name
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    repository, tag, digest = _split_name(name, remainder)
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return Reference(host, repository, tag or (None if digest else "latest"), digest)


def target_reference(image: Reference, registry: str, prefix: str = "") -> Reference:
    """Where an image goes in `registry`: its repository path kept, its source host dropped."""
    repository = f"{prefix}/{image.repository}" if prefix else image.repository
    return Reference(registry, repository, image.tag, None if image.tag else image.digest)
