"""The `auth-provider` entry of a kubeconfig user, as kubectl's built-in providers read it.

kubectl keeps one: `oidc`. It sends `id-token` as a bearer token while the token's `exp` claim
is more than ten seconds away; an expired token it refreshes at the identity provider with
`refresh-token` (and writes back into the kubeconfig). The probe sends a valid id-token as
kubectl does; it does not refresh (that is a login, kubectl's job), so an expired token is a
CredentialError naming why, and the caller says what runs instead. `gcp` and `azure` were
removed from kubectl: kubectl fails on them, and so does the probe, saying so.
"""

from __future__ import annotations

import binascii
import json
import time
from typing import Any

from kubeferry.shim.credentials import CredentialError

EXPIRY_DELTA = 10.0  # client-go's oidc expiryDelta


def _expiry(token: str) -> float:
    parts = token.split(".")
    if len(parts) != 3:
        raise CredentialError("the oidc id-token is not a JWT (kubectl refuses it too)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(binascii.a2b_base64(payload.replace("-", "+").replace("_", "/")))
        return float(claims["exp"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CredentialError("the oidc id-token has no readable exp claim") from exc


def provider_token(provider: dict[str, Any], now: float | None = None) -> str:
    """The bearer token kubectl would send for this auth-provider; CredentialError otherwise."""
    name = str(provider.get("name") or "")
    config = provider.get("config") or {}
    if name != "oidc":
        raise CredentialError(f"auth-provider {name!r} is not built into kubectl any more")
    for key in ("idp-issuer-url", "client-id"):
        if not config.get(key):
            raise CredentialError(f"the oidc auth-provider has no {key} (kubectl refuses it)")
    token = str(config.get("id-token") or "")
    moment = time.time() if now is None else now
    if token and moment + EXPIRY_DELTA < _expiry(token):
        return token
    if config.get("refresh-token"):
        raise CredentialError(
            "the oidc id-token has expired; kubectl refreshes it at the identity provider, "
            "which the version probe does not do"
        )
    raise CredentialError("no valid oidc id-token and no refresh-token (kubectl fails too)")
