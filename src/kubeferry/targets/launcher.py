"""`shim install|uninstall`: the `kubectl` launcher on PATH that runs the kubeferry wrapper.

On Linux and macOS the launcher is a small Python script bound to this interpreter; on Windows it
is a copy of the `kubeferry-kubectl.exe` entry point named `kubectl.exe`. Either can only be made
on the machine it runs on (it names this Python), so a launcher for another OS is refused.
Uninstall removes only a launcher kubeferry wrote.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import kubeferry
from kubeferry.core.platforms import host_os
from kubeferry.errors import LauncherError
from kubeferry.files.safe import write_text_atomically
from kubeferry.settings import Settings

MARKER: Final = "# kubectl -> the kubeferry wrapper. Written by 'kubeferry shim install'."
LAUNCHER: Final = """#!{python} -S
{marker} `-S` skips site
# processing (30+ ms with many packages installed): the warm path needs only the standard library
# and the kubeferry package. The site folders go last on sys.path, for the cold path (PyYAML,
# httpx); listing them costs nothing until something is imported from them.
import sys
sys.path.insert(0, {package_root!r})
sys.path.extend({site_dirs!r})
from kubeferry.shim import main
sys.exit(main())
"""


@dataclass(frozen=True)
class LauncherChange:
    """What install or uninstall did to one file, and warnings about PATH."""

    path: str
    action: str
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"path": self.path, "action": self.action, "warnings": list(self.warnings)}


def launcher_text() -> str:
    """A launcher script bound to this Python and this kubeferry installation."""
    package_root = str(Path(kubeferry.__file__).resolve().parent.parent)
    site_dirs = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    return LAUNCHER.format(
        python=sys.executable, marker=MARKER, package_root=package_root, site_dirs=site_dirs
    )


def launcher_path(settings: Settings, folder: Path | None) -> Path:
    """`<folder>/kubectl` (`kubectl.exe` on Windows); the folder defaults to ~/.local/bin."""
    target_dir = folder or settings.home / ".local" / "bin"
    return target_dir / ("kubectl.exe" if settings.target_os == "windows" else "kubectl")


def _entry_point_exe() -> Path | None:
    found = shutil.which("kubeferry-kubectl")
    return Path(found) if found else None


def is_ours(target: Path) -> bool:
    """True for a regular file kubeferry wrote: the marked script, or a copy of the .exe."""
    try:
        if not stat.S_ISREG(target.lstat().st_mode):
            return False
        head = target.read_bytes()[:4096] if target.suffix != ".exe" else b""
    except OSError:
        return False
    if target.suffix == ".exe":
        exe = _entry_point_exe()
        return exe is not None and exe.read_bytes() == target.read_bytes()
    return MARKER.encode() in head


def _refuse_other_os(settings: Settings) -> None:
    here = host_os(sys.platform)
    if settings.target_os != here:
        raise LauncherError(
            f"a kubectl launcher for {settings.target_os} cannot be made on {here}: it runs "
            f"this machine's Python. Install kubeferry on the {settings.target_os} machine and "
            "run 'kubeferry shim install' there (on Windows it writes kubectl.exe). Nothing was "
            "changed."
        )


def install_launcher(settings: Settings, folder: Path | None, *, force: bool) -> LauncherChange:
    """Write the launcher; refuse to replace a kubectl that is not ours unless `force`."""
    _refuse_other_os(settings)
    target = launcher_path(settings, folder)
    if (target.exists() or target.is_symlink()) and not force and not is_ours(target):
        raise LauncherError(
            f"{target} exists and is not the kubeferry wrapper; nothing was changed. "
            "Use --force to replace it, or --dir for another folder.",
            path=target,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()  # --force: replace the link itself, never write through it
    if settings.target_os == "windows":
        exe = _entry_point_exe()
        if exe is None:
            raise LauncherError(
                "kubeferry-kubectl.exe is not on PATH; reinstall kubeferry.", path=target
            )
        shutil.copyfile(exe, target)
    else:
        write_text_atomically(target, launcher_text())
        target.chmod(0o755)
    return LauncherChange(str(target), "installed", shadowing_warnings(target, settings))


def uninstall_launcher(settings: Settings, folder: Path | None) -> LauncherChange:
    """Remove the launcher if kubeferry wrote it; anything else there is left untouched."""
    target = launcher_path(settings, folder)
    if not (target.exists() or target.is_symlink()):
        return LauncherChange(str(target), "absent")
    if not is_ours(target):
        raise LauncherError(
            f"{target} is not a launcher kubeferry installed (no '{MARKER[:40]}...' line); it "
            "was left untouched. Remove it yourself if you mean to, or use --dir for the "
            "folder where 'kubeferry shim install' put it.",
            path=target,
        )
    target.unlink()
    return LauncherChange(str(target), "removed")


def shadowing_warnings(target: Path, settings: Settings) -> tuple[str, ...]:
    """Why `kubectl` on PATH might not reach the launcher."""
    path = settings.environ.get("PATH", "")
    folders = [Path(p) for p in path.split(os.pathsep) if p]
    if target.parent not in folders:
        return (f"{target.parent} is not on PATH; add it so 'kubectl' finds the wrapper",)
    first = shutil.which("kubectl", path=path)
    if first and Path(first) != target:
        return (
            f"{first} comes first on PATH and shadows {target}; put {target.parent} "
            "earlier in PATH or remove the other kubectl",
        )
    return ()
