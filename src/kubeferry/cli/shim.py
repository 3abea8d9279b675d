"""`kubeferry shim install`: put a `kubectl` that is the wrapper on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

import kubeferry
from kubeferry.cli.render import note
from kubeferry.core.textfiles import write_text_atomically
from kubeferry.settings import Settings

LAUNCHER = """#!{python} -S
# kubectl -> the kubeferry wrapper. Written by 'kubeferry shim install'. `-S` skips site
# processing (30+ ms with many packages installed): the warm path needs only the standard library
# and the kubeferry package. The site folders go last on sys.path, for the cold path (PyYAML,
# httpx); listing them costs nothing until something is imported from them.
import sys
sys.path.insert(0, {package_root!r})
sys.path.extend({site_dirs!r})
from kubeferry.shim import main
sys.exit(main())
"""


def launcher_text() -> str:
    """A launcher script bound to this Python and this kubeferry installation."""
    package_root = str(Path(kubeferry.__file__).resolve().parent.parent)
    site_dirs = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    return LAUNCHER.format(python=sys.executable, package_root=package_root, site_dirs=site_dirs)


@click.group()
def shim() -> None:
    """The kubectl wrapper."""


@shim.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder on PATH for the kubectl link (default ~/.local/bin).",
)
@click.option("--force", is_flag=True, help="Replace an existing kubectl there.")
@click.pass_obj
def install(settings: Settings, folder: Path | None, force: bool) -> None:
    """Install `kubectl` as the wrapper in a PATH folder and warn about a shadowing kubectl."""
    target_dir = folder or settings.home / ".local" / "bin"
    windows = sys.platform.startswith("win")
    target = target_dir / ("kubectl.exe" if windows else "kubectl")
    if target.exists() and not force and not _is_ours(target):
        raise click.ClickException(
            f"{target} exists and is not the kubeferry wrapper; nothing was changed. "
            "Use --force to replace it, or --dir for another folder."
        )
    target_dir.mkdir(parents=True, exist_ok=True)
    if windows:
        script = shutil.which("kubeferry-kubectl")
        if script is None:
            raise click.ClickException("kubeferry-kubectl.exe is not on PATH; reinstall kubeferry.")
        shutil.copyfile(script, target)
    else:
        write_text_atomically(target, launcher_text())
        target.chmod(0o755)
    note(f"installed {target} -> the kubeferry wrapper", quiet=settings.verbosity < 0)
    _warn_if_shadowed(target, settings)


def _is_ours(target: Path) -> bool:
    try:
        return "kubeferry" in target.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


def _warn_if_shadowed(target: Path, settings: Settings) -> None:
    path = settings.environ.get("PATH", "")
    folders = [Path(p) for p in path.split(os.pathsep) if p]
    if target.parent not in folders:
        note(
            f"warning: {target.parent} is not on PATH; add it so 'kubectl' finds the wrapper",
            quiet=settings.verbosity < 0,
        )
        return
    first = shutil.which("kubectl", path=path)
    if first and Path(first) != target:
        note(
            f"warning: {first} comes first on PATH and shadows {target}; put {target.parent} "
            "earlier in PATH or remove the other kubectl",
            quiet=settings.verbosity < 0,
        )
