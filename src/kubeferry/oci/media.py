"""OCI and Docker media types, descriptors and manifest bytes (pure: no network library)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES: Final = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES: Final = (OCI_INDEX, DOCKER_LIST)
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR: Final = "application/vnd.oci.image.layer.v1.tar"


def descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    """An OCI descriptor `{mediaType, digest, size, ...}`."""
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def manifest_json(document: Mapping[str, Any]) -> bytes:
    """Compact bytes for a manifest (its digest is the digest of exactly these bytes)."""
    return json.dumps(document, separators=(",", ":")).encode()


def sha256_digest(data: bytes) -> str:
    """`sha256:<hex>` of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
