"""`bundle inspect DIR` as a service: what a bundle holds, read by `bundle/inspect.py`.

Kept apart from services/bundle.py, which loads the download engine: inspecting reads only the
manifest and the folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubeferry.bundle.images import ImagePin, pins_from_targets
from kubeferry.bundle.inspect import BundleContents, image_dict
from kubeferry.bundle.inspect import inspect_bundle as _inspect


def inspect_bundle(folder: Path) -> BundleContents:
    """What the bundle in `folder` holds, by its manifest; ManifestError when it has none."""
    return _inspect(folder)


def image_summary(pin: ImagePin) -> dict[str, Any]:
    """One workload image of a bundle as `bundle inspect` shows it (platforms, digest, size)."""
    return image_dict(pin)


def pinned_images(targets: Mapping[str, Any]) -> tuple[ImagePin, ...]:
    """The workload images a manifest's `targets` pins (reference -> digest, platforms)."""
    return pins_from_targets(targets)
