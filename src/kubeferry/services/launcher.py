"""`shim install|uninstall` as services: the `kubectl` launcher on PATH (targets/launcher.py)."""

from __future__ import annotations

from pathlib import Path

from kubeferry.settings import Settings
from kubeferry.targets.launcher import LauncherChange
from kubeferry.targets.launcher import install_launcher as _install
from kubeferry.targets.launcher import uninstall_launcher as _uninstall


def install_launcher(settings: Settings, folder: Path | None, *, force: bool) -> LauncherChange:
    """Write the launcher into `folder` (default ~/.local/bin), with warnings about PATH."""
    return _install(settings, folder, force=force)


def uninstall_launcher(settings: Settings, folder: Path | None) -> LauncherChange:
    """Remove the launcher 'shim install' wrote; any other kubectl is left untouched."""
    return _uninstall(settings, folder)
