"""Which public keys a command trusts: `--key`, `KUBEFERRY_TRUSTED_KEYS`, the default folder.

- `--key PUB` (repeatable): exactly these keys; the environment and the folder are not read
  (an auditor asking "did THIS key sign it" gets that answer and no other).
- else `KUBEFERRY_TRUSTED_KEYS`: files or folders separated by the OS path separator (`:` on
  Linux and macOS, `;` on Windows); a folder means every `*.pub` and `*.pem` file in it. A
  listed path that does not exist is an error: a typo must not mean "trust nothing".
- else the default folder, when it exists: `${XDG_CONFIG_HOME:-~/.config}/kubeferry/trusted-keys`
  on Linux, `~/Library/Application Support/kubeferry/trusted-keys` on macOS,
  `%APPDATA%\\kubeferry\\trusted-keys` on Windows.

No `cryptography` here: the keys are read (`signatures.load_public_key`) only when there are any.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kubeferry.errors import KeyFileError

if TYPE_CHECKING:
    from kubeferry.verification.signatures import PublicKey

TRUSTED_KEYS_VARIABLE: Final = "KUBEFERRY_TRUSTED_KEYS"
PASSWORD_VARIABLE: Final = "KUBEFERRY_KEY_PASSWORD"  # noqa: S105 (a variable name)
KEY_SUFFIXES: Final = (".pub", ".pem")


def default_keys_folder(environ: Mapping[str, str], platform: str = sys.platform) -> Path:
    """The trusted-keys folder under the user's configuration folder, per OS."""
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    if platform == "win32":
        base = Path(environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    return base / "kubeferry" / "trusted-keys"


def _folder_keys(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if path.name.endswith(KEY_SUFFIXES) and not path.name.startswith(".")
    )


@dataclass(frozen=True)
class Trust:
    """The trust options of one command: the keys it was given and whether unsigned is allowed.

    `environ` is where `KUBEFERRY_TRUSTED_KEYS` and the default folder are looked up.
    """

    keys: tuple[Path, ...] = ()
    allow_unsigned: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)

    def key_files(self) -> list[tuple[Path, str]]:
        """(file, where it was configured) for every trusted key, in order, without duplicates."""
        if self.keys:
            return [(path, "--key") for path in dict.fromkeys(self.keys)]
        listed = self.environ.get(TRUSTED_KEYS_VARIABLE, "")
        found: list[tuple[Path, str]] = []
        if listed.strip():
            for item in filter(None, listed.split(os.pathsep)):
                path = Path(item)
                if path.is_dir():
                    found += [(p, TRUSTED_KEYS_VARIABLE) for p in _folder_keys(path)]
                elif path.exists():
                    found.append((path, TRUSTED_KEYS_VARIABLE))
                else:
                    raise KeyFileError(
                        f"{TRUSTED_KEYS_VARIABLE} lists {path}, which does not exist. Fix the "
                        "path (files or folders, separated by "
                        f"{os.pathsep!r}); a typo must not mean trusting no key.",
                        path=path,
                    )
        else:
            folder = default_keys_folder(self.environ)
            if folder.is_dir():
                found = [(p, str(folder)) for p in _folder_keys(folder)]
        return list({path: (path, where) for path, where in found}.values())

    def where(self) -> str:
        """Where keys can be configured, for messages."""
        return (
            f"--key PUB, {TRUSTED_KEYS_VARIABLE}, or the folder {default_keys_folder(self.environ)}"
        )

    def load(self) -> list[PublicKey]:
        """The trusted public keys, read (KeyFileError for one that is not a public key)."""
        files = self.key_files()
        if not files:
            return []
        from kubeferry.verification.signatures import load_public_key

        return [load_public_key(path, origin=where) for path, where in files]
