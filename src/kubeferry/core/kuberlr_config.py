"""kuberlr's configuration, read the way kuberlr reads it (standard library only).

Files, merged in order, later keys winning: `/usr/etc/kuberlr.conf`, `/etc/kuberlr.conf`,
`~/.kuberlr/kuberlr.conf`, `$KUBERLR_CFG` (on Windows `%APPDATA%`, `%PROGRAMDATA%` and
`%USERPROFILE%\\.kuberlr` instead of the first three). `KUBERLR_<KEY>` variables beat every file.
A flat `Key = value` file is read by a tiny parser; anything else goes to `tomllib`.

Values are read as kuberlr (Go, viper and cast) reads them: booleans with `strconv.ParseBool`
(`1 t T TRUE true True 0 f F FALSE false False`, a TOML bool, or a TOML integer: non-zero is
true) and `Timeout` as whole seconds (a TOML integer, or a string of one). Where kuberlr silently
turns a bad value into `false` or `0` (no timeout at all), kubeferry says which key in which file
or variable is wrong and stops: a typo must not mean "download" or "wait forever".
"""

from __future__ import annotations

import os
import sys

from kubeferry.core.environment import (
    GO_FALSE,
    GO_TRUE,
    REVALIDATE_AFTER,
    VERSION_CACHE_TTL,
    env_flag,
    env_seconds,
)
from kubeferry.errors import ConfigError

TYPE_CHECKING = False  # typing and collections.abc cost every kubectl call
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULTS: dict[str, object] = {
    "allowdownload": True,
    "uselatestifnocompatible": False,
    "systempath": "/usr/bin",
    "timeout": 5,
    "kubemirrorurl": "https://dl.k8s.io",
}
NAMES = {
    "allowdownload": "AllowDownload",
    "uselatestifnocompatible": "UseLatestIfNoCompatible",
    "systempath": "SystemPath",
    "timeout": "Timeout",
    "kubemirrorurl": "KubeMirrorUrl",
}


def _where(source: str, key: str) -> str:
    if source.startswith("KUBERLR_"):
        return f"{source}"
    return f"{NAMES[key]} in {source}" if source != "default" else NAMES[key]


def go_bool(value: object, key: str, source: str) -> bool:
    """strconv.ParseBool, or cast's rules for TOML bools and integers."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value in GO_TRUE | GO_FALSE:
        return value in GO_TRUE
    raise ConfigError(
        f"{_where(source, key)} is {value!r}, not a boolean: kuberlr reads booleans as Go's "
        "strconv.ParseBool does (1 t T TRUE true True, or 0 f F FALSE false False)",
        path=None if source.startswith("KUBERLR_") else source,
    )


def whole_seconds(value: object, key: str, source: str) -> int:
    """Timeout: a TOML integer or a string of one (`"10"`, `"10.0"`), 1 or more."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if "." in text and text.rstrip("0").endswith("."):
            text = text.rstrip("0")[:-1]  # cast accepts "10.0" as 10
        if text.lstrip("+-").isascii() and text.lstrip("+-").isdigit():
            number = int(text)
    if number is None or number < 1:
        raise ConfigError(
            f"{_where(source, key)} is {value!r}, not a whole number of seconds of 1 or more "
            "(kuberlr's Timeout is whole seconds): write e.g. Timeout = 5",
            path=None if source.startswith("KUBERLR_") else source,
        )
    return number


class Config:
    """The effective kuberlr settings plus kubeferry's own variables."""

    __slots__ = (
        "allow_download",
        "home",
        "mirror_url",
        "offline",
        "revalidate_after",
        "system_path",
        "timeout",
        "use_latest_if_no_compatible",
        "version_cache_ttl",
    )

    def __init__(
        self,
        values: Mapping[str, object],
        environ: Mapping[str, str],
        home: str,
        sources: Mapping[str, str] | None = None,
    ) -> None:
        where = dict(sources or {})

        def source(key: str) -> str:
            return where.get(key, "default")

        self.allow_download = go_bool(
            values["allowdownload"], "allowdownload", source("allowdownload")
        )
        self.use_latest_if_no_compatible = go_bool(
            values["uselatestifnocompatible"],
            "uselatestifnocompatible",
            source("uselatestifnocompatible"),
        )
        self.system_path = str(values["systempath"])
        self.timeout = float(whole_seconds(values["timeout"], "timeout", source("timeout")))
        mirror = environ.get("KUBEFERRY_KUBECTL_MIRROR_URL") or str(values["kubemirrorurl"])
        self.mirror_url = mirror.rstrip("/")
        self.offline = env_flag(environ, "KUBEFERRY_OFFLINE")
        self.version_cache_ttl = env_seconds(
            environ, "KUBEFERRY_VERSION_CACHE_TTL", VERSION_CACHE_TTL
        )
        self.revalidate_after = env_seconds(environ, "KUBEFERRY_REVALIDATE_AFTER", REVALIDATE_AFTER)
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
    sources: dict[str, str] = {}
    for path in config_files(environ, home, windows=is_windows):
        found = _read_file(path)
        for key, value in (found or {}).items():
            if key in DEFAULTS:
                values[key], sources[key] = value, path
    for key in DEFAULTS:
        name = f"KUBERLR_{key.upper()}"
        variable = environ.get(name)
        if variable:
            values[key], sources[key] = variable, name
    return Config(values, environ, home, sources)
