"""Errors a person can act on.

    KubeferryError                  every failure the CLI reports (exit 1)
    ├── CatalogError                a k3s-versions.json or saved upstream JSON that cannot be used
    ├── UpstreamError               an upstream answer that cannot be used (status, body, network)
    │   └── RateLimitError          GitHub's rate limit, with the reset time
    ├── ChecksumError               bytes whose digest is not the expected one
    ├── SumsFileError               a sha256sum file that is malformed or lacks a needed name
    ├── OfflineError                the network is needed but the user said offline
    ├── UnsafePathError             a path that would leave its folder (bundles, sums files)
    ├── NotFoundError               a version, channel or file that does not exist
    ├── RegistryError               an OCI registry that refused, failed or answered nonsense
    │   └── RegistryAuthError       the registry wants credentials, or refused the ones given
    ├── ImageArchiveError           an airgap images archive that cannot be read as images
    └── RegistriesFileError         a registries.yaml / override.yaml that cannot be merged

Each carries the `url`, `path`, `expected` and `actual` it is about, when it has them, and a
message that already says what to do next.
"""

from __future__ import annotations

from pathlib import Path


class KubeferryError(Exception):
    """A failure with a message a person can act on."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        path: Path | str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.path = Path(path) if path is not None else None
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return self.message


class CatalogError(KubeferryError):
    """A catalog or saved upstream document that cannot be used."""


class UpstreamError(KubeferryError):
    """An upstream server answered with something that cannot be used, or not at all."""


class RateLimitError(UpstreamError):
    """GitHub's API rate limit is exhausted until a known time."""


class ChecksumError(KubeferryError):
    """A file's digest differs from the expected one."""


class SumsFileError(KubeferryError):
    """A sums file that is malformed, or that does not list a file it must list."""


class OfflineError(KubeferryError):
    """Offline mode forbids the network access an operation needs."""


class UnsafePathError(KubeferryError):
    """A path from untrusted input would escape its folder."""


class NotFoundError(KubeferryError):
    """A version, channel or file that does not exist where it was looked for."""


class RegistryError(KubeferryError):
    """An OCI registry refused a request, failed, or answered something unusable."""


class RegistryAuthError(RegistryError):
    """The registry needs credentials, or refused the ones it was given."""


class ImageArchiveError(KubeferryError):
    """An images archive (docker save or OCI layout, .tar or .tar.zst) that cannot be used."""


class RegistriesFileError(KubeferryError):
    """A registries.yaml or Rancher Desktop provisioning file that cannot be built or merged."""
