"""kubectl binaries in the kuberlr folder and kuberlr's SystemPath (standard library only)."""

from __future__ import annotations

import os

from kubeferry.shim.choose import Binary, Version


def parse_binary_name(name: str, *, windows: bool) -> Version | None:
    """`kubectl1.30.6` (or `kubectl1.30`, `.exe` on Windows) to its version; None otherwise.

    Stricter than kuberlr's scanf: `kubectl1.30.6.part` or `kubectl1.30.6-old` is not a kubectl.
    """
    if windows and name.lower().endswith(".exe"):
        name = name[:-4]
    if not name.startswith("kubectl"):
        return None
    parts = name[len("kubectl") :].split(".")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts):
        return None
    patch = int(parts[2]) if len(parts) == 3 else 0
    return (int(parts[0]), int(parts[1]), patch)


def binaries_in(folder: str, *, windows: bool) -> list[Binary]:
    """Every kubectl<version> file in `folder` (a missing folder has none)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found: list[Binary] = []
    for name in names:
        version = parse_binary_name(name, windows=windows)
        if version is not None:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                found.append((version, path))
    return found


def all_binaries(local_dir: str, system_path: str, *, windows: bool) -> list[Binary]:
    """Local binaries first, then system ones, as kuberlr scans them."""
    found = binaries_in(local_dir, windows=windows)
    if system_path and os.path.normpath(system_path) != os.path.normpath(local_dir):
        found += binaries_in(system_path, windows=windows)
    return found
