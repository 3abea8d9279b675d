"""kuberlr's folder and names: where kubectl binaries live and how they are called.

`~/.kuberlr/<os>-<arch>/kubectl<M.m.p>[.exe]`, plus kuberlr's SystemPath. On the wrapper's warm
path: standard library only (`os`).
"""

from __future__ import annotations

import os

from kubeferry.core.skew import Binary, Version, format_version, is_ascii_number

GUARD = "KUBERLR_RESOLVING_VERSION"
"""Set while an exec credential plugin runs, so a wrapper it calls does not ask the server again."""


def folder(home: str, target_os: str, arch: str) -> str:
    """`<home>/.kuberlr/<os>-<arch>`, where kuberlr keeps downloaded kubectl binaries."""
    return os.path.join(home, ".kuberlr", f"{target_os}-{arch}")


def kubectl_file_name(version: str | Version, target_os: str) -> str:
    """kuberlr's name for a downloaded kubectl: `kubectl1.30.6` (`.exe` on Windows)."""
    text = version if isinstance(version, str) else format_version(version)
    return f"kubectl{text}{'.exe' if target_os == 'windows' else ''}"


def parse_binary_name(name: str, *, windows: bool) -> Version | None:
    """`kubectl1.30.6` (or `kubectl1.30`, `.exe` on Windows) to its version; None otherwise.

    Stricter than kuberlr's scanf: `kubectl1.30.6.part` or `kubectl1.30.6-old` is not a kubectl.
    """
    if windows and name.lower().endswith(".exe"):
        name = name[:-4]
    if not name.startswith("kubectl"):
        return None
    parts = name[len("kubectl") :].split(".")
    if len(parts) not in (2, 3) or not all(is_ascii_number(part) for part in parts):
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
