"""Settings: where and how a command works, resolved from options and the environment.

Every service takes Settings; nothing here knows about click.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from kubeferry.core.endpoints import Endpoints
from kubeferry.core.environment import (
    SECONDS_VARIABLES,
    URL_VARIABLES,
    env_flag,
    env_seconds,
    env_url,
)
from kubeferry.core.kuberlr_config import go_bool, home_dir, whole_seconds
from kubeferry.core.layouts import CATALOG_FILE_NAME, kuberlr_dir, rancher_desktop_cache_dir
from kubeferry.core.platforms import host_arch, host_os, normalize_arch, normalize_os
from kubeferry.errors import ConfigError, UsageError
from kubeferry.jobs.cancel import CancelToken

BOOLEAN_VARIABLES: Final = ("KUBERLR_ALLOWDOWNLOAD", "KUBERLR_USELATESTIFNOCOMPATIBLE")


def _silent(message: str) -> None:
    return None


_UNITS: Final = {
    "KUBEFERRY_SPEED_LIMIT": "bytes per second",
    "KUBEFERRY_SPEED_TIME": "seconds",
    "KUBEFERRY_TIMEOUT": "seconds",
}


def _number(environ: Mapping[str, str], name: str, given: float | None) -> float | None:
    """A number (0 or more) from an option (already checked by click), else from `name`."""
    if given is not None:
        return given
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text) if text.isascii() else -1.0
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        unit = _UNITS.get(name, "a number")
        raise UsageError(f"{name} must be a number of {unit} (0 or more), not {text!r}")
    return value


def _default(value: float | None, default: float) -> float:
    return default if value is None else value


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where and how to work."""

    target_os: str
    arches: tuple[str, ...]
    home: Path
    cache_dir: Path
    offline: bool
    verbosity: int
    environ: Mapping[str, str]
    endpoints: Endpoints
    os_given: bool = False
    arch_given: bool = False
    target_oses: tuple[str, ...] = ()
    home_given: bool = False
    cache_dir_given: bool = False
    speed_limit: int = 1024
    speed_time: float = 30.0
    timeout: float | None = None
    announce: Callable[[str], None] = _silent
    """Receives sentences for the person while a command runs (waits, retries); the CLI prints
    them on stderr, a library caller may log them."""
    connections: int | None = None
    """Connections per large file (`--connections`); None: download/segmented.py's default."""
    cancel: CancelToken = field(default_factory=CancelToken, compare=False, repr=False)
    """The command's token: every download, pool and pause of the command takes it; Ctrl-C
    cancels it (the CLI), a long-running caller may cancel it to stop this one job."""

    @property
    def arch(self) -> str:
        """The first (or only) target arch."""
        return self.arches[0]

    @property
    def catalog_path(self) -> Path:
        """`<cache>/k3s-versions.json`."""
        return self.cache_dir / CATALOG_FILE_NAME

    def kuberlr_dir(self, arch: str | None = None) -> Path:
        """`<home>/.kuberlr/<os>-<arch>` of the target."""
        return kuberlr_dir(self.home, self.target_os, arch or self.arch)


def _choose(
    values: Sequence[str], option: str, normalize: Callable[[str], str | None], choices: str
) -> tuple[str, ...]:
    """Comma-separated, repeatable `--os`/`--arch` values, normalised, each once, in order."""
    chosen: list[str] = []
    for value in values:
        for part in value.split(","):
            name = normalize(part)
            if name is None:
                raise UsageError(f"Invalid value for '{option}': {part!r}; use {choices}")
            if name not in chosen:
                chosen.append(name)
    return tuple(chosen)


def _choose_oses(values: Sequence[str]) -> tuple[str, ...]:
    if not values:
        return (host_os(sys.platform),)
    return _choose(values, "--os", normalize_os, "linux, darwin or windows")


def _choose_arches(values: Sequence[str]) -> tuple[str, ...]:
    if not values:
        return (host_arch(platform.machine()),)
    return _choose(values, "--arch", normalize_arch, "amd64 or arm64")


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse a KUBEFERRY_*/KUBERLR_* value that does not parse (a typo must not mean the default).

    Raises UsageError naming the variable and what it accepts.
    """
    try:
        env_flag(environ, "KUBEFERRY_OFFLINE")
        for name, default in SECONDS_VARIABLES.items():
            env_seconds(environ, name, default)
        for name in BOOLEAN_VARIABLES:
            if environ.get(name):
                go_bool(environ[name], name.removeprefix("KUBERLR_").lower(), name)
        if environ.get("KUBERLR_TIMEOUT"):
            whole_seconds(environ["KUBERLR_TIMEOUT"], "timeout", "KUBERLR_TIMEOUT")
        for name in URL_VARIABLES:
            env_url(environ, name)
    except ConfigError as exc:
        raise UsageError(f"environment variable {exc.message}") from exc


def build_settings(
    *,
    environ: Mapping[str, str],
    cache_dir: str | None,
    home: str | None,
    os_names: Sequence[str],
    arches: Sequence[str],
    offline: bool,
    verbosity: int,
    timeout: float | None = None,
    announce: Callable[[str], None] = _silent,
) -> Settings:
    """Resolve options and environment into Settings (CLI values beat the environment)."""
    check_environment(environ)
    target_oses = _choose_oses(os_names)
    target_os = target_oses[0]
    resolved_home = Path(home).expanduser() if home else Path(home_dir(environ))
    own_layout = home is None and target_os == host_os(sys.platform)
    cache_text = cache_dir or environ.get("KUBEFERRY_CACHE_DIR")
    resolved_cache = (
        Path(cache_text).expanduser()
        if cache_text
        else rancher_desktop_cache_dir(
            target_os, resolved_home, environ, use_environment=own_layout
        )
    )
    return Settings(
        target_os=target_os,
        arches=_choose_arches(arches),
        home=resolved_home,
        cache_dir=resolved_cache,
        offline=offline or env_flag(environ, "KUBEFERRY_OFFLINE"),
        verbosity=verbosity,
        environ=environ,
        endpoints=Endpoints.from_environ(environ),
        os_given=bool(os_names),
        arch_given=bool(arches),
        target_oses=target_oses,
        home_given=home is not None,
        cache_dir_given=cache_dir is not None,
        speed_limit=int(_default(_number(environ, "KUBEFERRY_SPEED_LIMIT", None), 1024)),
        speed_time=_default(_number(environ, "KUBEFERRY_SPEED_TIME", None), 30.0),
        timeout=_number(environ, "KUBEFERRY_TIMEOUT", timeout) or None,  # 0: no limit
        announce=announce,
    )
