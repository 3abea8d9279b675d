"""Which keys a command trusts, and who signed a bundle: the door to verification/keys + trust.

`cryptography` loads only when a signature is really checked (verification/signatures.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kubeferry.verification.keys import PASSWORD_VARIABLE, Trust

if TYPE_CHECKING:
    from kubeferry.verification.trust import SignatureCheck

KEY_PASSWORD_VARIABLE: Final = PASSWORD_VARIABLE


def trust_for(keys: tuple[Path, ...], allow_unsigned: bool, environ: Mapping[str, str]) -> Trust:
    """The trusted keys of one command: `--key` files, else KUBEFERRY_TRUSTED_KEYS, else the
    trusted-keys folder; `allow_unsigned` lets an unsigned bundle through."""
    return Trust(keys, allow_unsigned, environ)


def signatures_of(folder: Path, trust: Trust) -> SignatureCheck:
    """Every signature beside `folder`'s manifest, checked against `trust` (nothing refused)."""
    from kubeferry.verification.trust import check_folder

    return check_folder(folder, trust)
