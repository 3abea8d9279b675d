"""kubeferry's own environment variables, read the same way everywhere (standard library only).

The wrapper reads these on its warm path, so this module imports nothing but `errors` (typing is
not even imported at run time). kuberlr's own settings and files are `kuberlr_config.py`.

A switch (`KUBEFERRY_OFFLINE`) takes Go's true/false words or yes/no/on/off; a duration is a
number of seconds, 0 or more; a URL variable must be http:// or https://. Anything else is an
error naming the variable: a typo must not quietly mean the default.
"""

from __future__ import annotations

from kubeferry.errors import ConfigError

TYPE_CHECKING = False  # typing and collections.abc cost every kubectl call
if TYPE_CHECKING:
    from collections.abc import Mapping

GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
VERSION_CACHE_TTL = 60.0
REVALIDATE_AFTER = 2.0
"""A cached answer older than this (seconds) is re-checked in the background after the call.

Each such call costs one fork (about a millisecond) and a probe in a detached process; bursts
of calls within this window share one check. The cache's TTL still bounds a stale answer."""


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """A KUBEFERRY_* switch: Go's true/false words or yes/no/on/off; anything else is an error."""
    text = environ.get(name)
    if text is None:
        return False
    word = text.strip()
    if word in GO_TRUE or word.lower() in TRUE_WORDS:
        return True
    if word in GO_FALSE or word.lower() in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{name}={text!r} is not a boolean: use 1 or 0 (also true/false, yes/no, on/off)"
    )


def env_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    """A KUBEFERRY_* duration in seconds (0 or more, fractions allowed)."""
    text = environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e9:
        raise ConfigError(
            f"{name}={text!r} is not a number of seconds: use e.g. {name}={int(default)}"
        )
    return value


SECONDS_VARIABLES = {
    "KUBEFERRY_VERSION_CACHE_TTL": VERSION_CACHE_TTL,
    "KUBEFERRY_REVALIDATE_AFTER": REVALIDATE_AFTER,
}
URL_VARIABLES = (
    "KUBEFERRY_MIRROR",
    "KUBEFERRY_K3S_CHANNELS_URL",
    "KUBEFERRY_K3S_RELEASES_URL",
    "KUBEFERRY_K3S_DOWNLOAD_URL",
    "KUBEFERRY_K3S_INSTALL_SCRIPT_URL",
    "KUBEFERRY_KUBECTL_MIRROR_URL",
    "KUBERLR_KUBEMIRRORURL",
)


def env_url(environ: Mapping[str, str], name: str) -> str | None:
    """A URL variable, stripped; None when unset or empty; ConfigError when not http(s)."""
    value = (environ.get(name) or "").strip()
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ConfigError(
            f"{name}={value!r} is not an http:// or https:// URL; "
            "set it to e.g. http://mirror.lan:8080 or unset it"
        )
    return value
