"""`kubeferry version`: what is running and the paths it would use (nothing is read or made)."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeferry import __version__
from kubeferry.core.kuberlr_config import config_files
from kubeferry.core.platforms import host_arch, host_os
from kubeferry.settings import Settings


@dataclass(frozen=True)
class About:
    """kubeferry's version, the interpreter, the platform and the paths for this target."""

    version: str
    python: str
    python_path: str
    platform: str
    target: str
    cache_dir: str
    catalog: str
    kuberlr_dirs: tuple[str, ...]
    kuberlr_configs: tuple[tuple[str, bool], ...]
    offline: bool

    def as_dict(self) -> dict[str, Any]:
        """The record for --json."""
        return {
            "version": self.version,
            "python": self.python,
            "python_path": self.python_path,
            "platform": self.platform,
            "target": self.target,
            "cache_dir": self.cache_dir,
            "catalog": self.catalog,
            "kuberlr_dirs": list(self.kuberlr_dirs),
            "kuberlr_configs": [{"path": p, "exists": e} for p, e in self.kuberlr_configs],
            "offline": self.offline,
        }


def describe(settings: Settings) -> About:
    """What `kubeferry version` prints; touches no file but checks which config files exist."""
    windows = settings.target_os == "windows"
    environ = {**settings.environ, "HOME": str(settings.home)}
    configs = config_files(environ, str(settings.home), windows=windows)
    return About(
        version=__version__,
        python=platform.python_version(),
        python_path=sys.executable,
        platform=f"{host_os(sys.platform)}/{host_arch(platform.machine())}",
        target=f"{settings.target_os}/{','.join(settings.arches)}",
        cache_dir=str(settings.cache_dir),
        catalog=str(settings.catalog_path),
        kuberlr_dirs=tuple(str(settings.kuberlr_dir(arch)) for arch in settings.arches),
        kuberlr_configs=tuple((path, Path(path).is_file()) for path in configs if path),
        offline=settings.offline,
    )
