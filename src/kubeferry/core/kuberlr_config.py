"""kuberlr's configuration, read the way kuberlr reads it (standard library only).

Files, merged in order, later keys winning: `/usr/etc/kuberlr.conf`, `/etc/kuberlr.conf`,
`~/.kuberlr/kuberlr.conf`, `$KUBERLR_CFG` (on Windows `%APPDATA%`, `%PROGRAMDATA%` and
`%USERPROFILE%\\.kuberlr` instead of the first three). `KUBERLR_<KEY>` variables beat every file.
A flat `Key = value` file is read by a tiny parser; anything else goes to `tomllib`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from kubeferry.errors import ConfigError

DEFAULTS: dict[str, object] = {
    "allowdownload": True,
    "uselatestifnocompatible": False,
    "systempath": "/usr/bin",
    "timeout": 5,
    "kubemirrorurl": "https://dl.k8s.io",
}
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def is_true(value: object) -> bool:
    """kubeferry's own switches: 1, true, yes, on (any case), or a TOML true."""
    if isinstance(value, bool):
        return value
    return value is not None and str(value).strip().lower() in TRUE_WORDS


class Config:
    """The effective kuberlr settings plus kubeferry's own variables."""

    __slots__ = (
        "allow_download",
        "home",
        "mirror_url",
        "offline",
        "system_path",
        "timeout",
        "use_latest_if_no_compatible",
        "version_cache_ttl",
    )

    def __init__(self, values: Mapping[str, object], environ: Mapping[str, str], home: str) -> None:
        self.allow_download = is_true(values["allowdownload"])
        self.use_latest_if_no_compatible = is_true(values["uselatestifnocompatible"])
        self.system_path = str(values["systempath"])
        self.timeout = float(str(values["timeout"]))
        mirror = environ.get("KUBEFERRY_KUBECTL_MIRROR_URL") or str(values["kubemirrorurl"])
        self.mirror_url = mirror.rstrip("/")
        self.offline = is_true(environ.get("KUBEFERRY_OFFLINE"))
        self.version_cache_ttl = float(environ.get("KUBEFERRY_VERSION_CACHE_TTL") or 60)
        self.home = home


def home_dir(environ: Mapping[str, str]) -> str:
    """`$HOME`, else `%USERPROFILE%` (kuberlr's rule)."""
    return environ.get("HOME") or environ.get("USERPROFILE") or os.path.expanduser("~")


def config_files(environ: Mapping[str, str], home: str, *, windows: bool) -> list[str]:
    """kuberlr's config file locations, lowest precedence first."""
    if windows:
        files = [
            os.path.join(environ.get("APPDATA", ""), "kuberlr", "kuberlr.conf"),
            os.path.join(environ.get("PROGRAMDATA", ""), "kuberlr", "kuberlr.conf"),
        ]
    else:
        files = ["/usr/etc/kuberlr.conf", "/etc/kuberlr.conf"]
    files.append(os.path.join(home, ".kuberlr", "kuberlr.conf"))
    if environ.get("KUBERLR_CFG"):
        files.append(environ["KUBERLR_CFG"])
    return files


def _scalar(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    if text[:1] in ('"', "'") and text[-1:] == text[:1] and len(text) >= 2:
        inner = text[1:-1]
        if text[0] == '"' and "\\" in inner:
            raise ValueError("escapes")
        return inner
    if text.lstrip("+-").isdigit():
        return int(text)
    raise ValueError(text)


def parse_flat_toml(text: str) -> dict[str, object]:
    """`Key = value` lines (bool, int, string, comments); ValueError for anything richer."""
    values: dict[str, object] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(line)
        value = value.strip()
        if value[:1] not in ('"', "'") and "#" in value:
            value = value.split("#", 1)[0].strip()
        values[key.strip().strip('"').lower()] = _scalar(value)
    return values


def _read_file(path: str) -> dict[str, object] | None:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}", path=path) from exc
    try:
        return parse_flat_toml(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        pass
    import tomllib  # only for files richer than `Key = value`

    try:
        document = tomllib.loads(data.decode("utf-8", errors="replace"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it", path=path) from exc
    return {key.lower(): value for key, value in document.items()}


def load_config(environ: Mapping[str, str], *, windows: bool | None = None) -> Config:
    """The effective configuration: defaults, then files in order, then KUBERLR_* variables."""
    is_windows = sys.platform.startswith("win") if windows is None else windows
    home = home_dir(environ)
    values = dict(DEFAULTS)
    for path in config_files(environ, home, windows=is_windows):
        found = _read_file(path)
        if found:
            values.update({k: v for k, v in found.items() if k in DEFAULTS})
    for key in DEFAULTS:
        variable = environ.get(f"KUBERLR_{key.upper()}")
        if variable:
            values[key] = variable
    return Config(values, environ, home)
