"""`bundle inspect DIR` as a service: what a bundle holds, read by `bundle/inspect.py`.

Kept apart from services/bundle.py, which loads the download engine: inspecting reads only the
manifest and the folder.
"""

from __future__ import annotations

from pathlib import Path

from kubeferry.bundle.inspect import BundleContents
from kubeferry.bundle.inspect import inspect_bundle as _inspect


def inspect_bundle(folder: Path) -> BundleContents:
    """What the bundle in `folder` holds, by its manifest; ManifestError when it has none."""
    return _inspect(folder)
