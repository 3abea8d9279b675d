"""Errors a person can act on: the one tree every failure a user sees belongs to.

    KubeferryError                  base only: never raised itself
    ├── CatalogError                a k3s-versions.json or saved upstream JSON that cannot be used
    ├── ManifestError               a bundle manifest that cannot be used
    ├── BundleError                 a bundle that is incomplete or fails verification
    ├── TextFileError               a local input file that is missing, unreadable or not text
    ├── ConfigError                 a kuberlr config file or kubeferry setting that cannot be used
    ├── UpstreamError               an upstream answer that cannot be used (status, body, network)
    │   └── RateLimitError          GitHub's rate limit, with the reset time
    ├── ChecksumError               bytes whose digest is not the expected one
    ├── SumsFileError               a sha256sum file that is malformed or lacks a needed name
    ├── OfflineError                the network is needed but the user said offline
    ├── UnsafePathError             a path that would leave its folder (bundles, sums files)
    ├── UsageError                  arguments that do not fit together (a version spec, a mode)
    ├── NotFoundError               a version, channel or file that does not exist
    ├── NoKubectlError              the wrapper has no kubectl it may run (exit 255)
    ├── MirrorError                 bundles that cannot be merged or served, an export target in use
    ├── RegistryError               an OCI registry that refused, failed or answered nonsense
    │   └── RegistryAuthError       the registry wants credentials, or refused the ones given
    ├── ImageArchiveError           an airgap images archive that cannot be read as images
    ├── RegistriesFileError         a registries.yaml / override.yaml that cannot be merged
    ├── StorageError                a destination file that cannot be written (disk full, perms)
    ├── LauncherError               a kubectl launcher that is not kubeferry's, or not for this OS
    ├── SignatureError              a bundle no trusted key signed, where one must have
    ├── KeyFileError                a signing or trusted key file that cannot be used
    └── NodeError                   a k3s node install that lacks a file or whose script failed

Each carries the `url`, `path`, `expected` and `actual` it is about, when it has them, and a
message that already says what to do next. Standard library only, and no import at module level
beyond `__future__`: the wrapper imports this module.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs the wrapper's warm path
if TYPE_CHECKING:
    from os import PathLike
    from pathlib import Path


class KubeferryError(Exception):
    """A failure with a message a person can act on."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        path: PathLike[str] | str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self._path = path
        self.expected = expected
        self.actual = actual

    @property
    def path(self) -> Path | None:
        """The file or folder the error is about (pathlib only when asked: the wrapper's cost)."""
        if self._path is None:
            return None
        from pathlib import Path

        return Path(self._path)

    def __str__(self) -> str:
        return self.message


class CatalogError(KubeferryError):
    """A catalog or saved upstream document that cannot be used."""


class ManifestError(KubeferryError):
    """A bundle manifest that cannot be used."""


class BundleError(KubeferryError):
    """A bundle that is incomplete or fails verification."""


class TextFileError(KubeferryError):
    """A local input file that is missing, unreadable, too large or not UTF-8."""


class ConfigError(KubeferryError):
    """A kuberlr config file, or a kubeferry setting, that exists but cannot be used."""


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


class UsageError(KubeferryError):
    """Arguments or values that do not fit (the CLI shows these as usage errors, exit 2)."""


class NotFoundError(KubeferryError):
    """A version, channel or file that does not exist where it was looked for."""


class NoKubectlError(KubeferryError):
    """The wrapper has no kubectl it may run; the message says which file to bring."""


class MirrorError(KubeferryError):
    """A mirror that cannot be built or served: bundles in conflict, a target folder in use."""


class RegistryError(KubeferryError):
    """An OCI registry refused a request, failed, or answered something unusable."""


class RegistryAuthError(RegistryError):
    """The registry needs credentials, or refused the ones it was given."""


class ImageArchiveError(KubeferryError):
    """An images archive (docker save or OCI layout, .tar or .tar.zst) that cannot be used."""


class RegistriesFileError(KubeferryError):
    """A registries.yaml or Rancher Desktop provisioning file that cannot be built or merged."""


class StorageError(KubeferryError):
    """A file that could not be written where it goes (disk full, read-only, no permission)."""


class LauncherError(KubeferryError):
    """A kubectl on PATH that kubeferry did not install, or a launcher it cannot make here."""


class SignatureError(KubeferryError):
    """A bundle whose signatures do not show a trusted signer where one is required."""


class KeyFileError(KubeferryError):
    """A private or public key file that is missing, not a key, the wrong kind, or locked."""


class NodeError(KubeferryError):
    """A k3s node install that lacks a release file, or whose install script failed."""
