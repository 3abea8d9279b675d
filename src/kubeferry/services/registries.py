"""`registries write|check` as services: the registries.yaml k3s reads, where it reads it.

Building and checking the document is registry/registries_yaml.py; where it goes and how it is
written (registries.yaml, Lima override, Windows provisioning script) is targets/registries.py.
"""

from __future__ import annotations

from pathlib import Path

from kubeferry.errors import NotFoundError, UsageError
from kubeferry.registry.registries_yaml import (
    DEFAULT_REGISTRIES,
    MirrorSettings,
    build_registries,
    loopback_mirror,
)
from kubeferry.settings import Settings
from kubeferry.targets.registries import (
    RegistriesCheck,
    WrittenFile,
    check_file,
    find_and_check,
    registries_destination,
    registries_kind,
    write_hosts_dir,
    write_registries,
)

__all__ = [
    "DEFAULT_REGISTRIES",
    "MirrorSettings",
    "check_registries_file",
    "check_registries_files",
    "write_registries_for",
]


def write_registries_for(
    settings: Settings,
    mirror: MirrorSettings,
    target: str,
    root: Path,
    hosts_dir: Path | None = None,
) -> WrittenFile:
    """Build, validate and write the registries configuration for `target`, merged; for
    `containerd`, one `hosts.toml` per registry under `hosts_dir`."""
    if target == "containerd":
        if hosts_dir is None:
            raise UsageError("--for containerd needs the folder to write: --for containerd DIR.")
        return write_hosts_dir(mirror, hosts_dir)
    path, kind = registries_destination(
        target, root, settings.target_os, settings.home, settings.environ
    )
    written = write_registries(build_registries(mirror), path, kind)
    advice = loopback_mirror(mirror.mirror) if target == "rancher-desktop" else None
    if advice:
        settings.announce(f"warning: {advice}")
    return written


def check_registries_files(settings: Settings, root: Path = Path("/")) -> list[RegistriesCheck]:
    """The registries.yaml files k3s and Rancher Desktop would apply, each checked."""
    return find_and_check(settings.target_os, settings.home, settings.environ, root)


def check_registries_file(path: Path) -> RegistriesCheck:
    """`registries check FILE`: a file written with `--for FILE` (or Rancher Desktop's Lima
    override or Windows `.start` script, told apart by kubeferry's marker); NotFoundError when it
    does not exist."""
    found = check_file(path, registries_kind(path))
    if found is None:
        raise NotFoundError(
            f"{path} does not exist (or is not a file). Give the file 'kubeferry registries "
            "write --for FILE' wrote.",
            path=path,
        )
    return found
