"""`registries write|check` as services: the registries.yaml k3s reads, where it reads it.

Building and checking the document is registry/registries_yaml.py; where it goes and how it is
written (registries.yaml, Lima override, Windows provisioning script) is targets/registries.py.
"""

from __future__ import annotations

from pathlib import Path

from kubeferry.registry.registries_yaml import DEFAULT_REGISTRIES, MirrorSettings, build_registries
from kubeferry.settings import Settings
from kubeferry.targets.registries import (
    RegistriesCheck,
    WrittenFile,
    find_and_check,
    registries_destination,
    write_registries,
)

__all__ = [
    "DEFAULT_REGISTRIES",
    "MirrorSettings",
    "check_registries_files",
    "write_registries_for",
]


def write_registries_for(
    settings: Settings, mirror: MirrorSettings, target: str, root: Path
) -> WrittenFile:
    """Build, validate and write the registries configuration for `target`, merged."""
    path, kind = registries_destination(
        target, root, settings.target_os, settings.home, settings.environ
    )
    return write_registries(build_registries(mirror), path, kind)


def check_registries_files(settings: Settings, root: Path = Path("/")) -> list[RegistriesCheck]:
    """The registries.yaml files k3s and Rancher Desktop would apply, each checked."""
    return find_and_check(settings.target_os, settings.home, settings.environ, root)
