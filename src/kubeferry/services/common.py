"""What services share: the catalog in use, kuberlr's configuration, the one network door."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from kubeferry.core.endpoints import Endpoints
from kubeferry.core.kuberlr_config import Config, load_config
from kubeferry.errors import ConfigError
from kubeferry.settings import Settings

if TYPE_CHECKING:  # local commands never load the network stack (test_startup_imports.py)
    import httpx

    from kubeferry.catalog.file import LoadedCatalog
    from kubeferry.targets.local import LocalTarget
    from kubeferry.transport.policy import TransferPolicy


def catalog_in_use(settings: Settings) -> LoadedCatalog:
    """The cache's catalog, or the embedded default (with a warning) when it is unusable."""
    from kubeferry.catalog.file import load_or_default  # `kubectl list` reads no catalog

    return load_or_default(settings.catalog_path)


def wrapper_environ(settings: Settings) -> dict[str, str]:
    """The environment the wrapper would see, with HOME set to --home."""
    return {**settings.environ, "HOME": str(settings.home)}


def kuberlr_config(settings: Settings) -> Config:
    """kuberlr's configuration as the wrapper on the target would read it."""
    try:
        return load_config(wrapper_environ(settings), windows=settings.target_os == "windows")
    except ConfigError as exc:
        raise ConfigError(f"kuberlr config: {exc.message}", path=exc.path) from exc


def kubectl_endpoints(settings: Settings) -> Endpoints:
    """Endpoints with kuberlr's KubeMirrorUrl (unless KUBEFERRY_KUBECTL_MIRROR_URL is set)."""
    config = kuberlr_config(settings)
    return Endpoints.from_environ(settings.environ, kube_mirror_url=config.mirror_url)


def local_target(settings: Settings) -> LocalTarget:
    """This machine's (or --home's) cache and kuberlr folders for the target OS and arches."""
    from kubeferry.targets.local import (
        LocalTarget,  # only bundles use it, not local commands
    )

    return LocalTarget(settings.cache_dir, settings.home, settings.target_os, settings.arches)


def transfer_policy(settings: Settings) -> TransferPolicy:
    """Download limits from the settings; each retry is announced to the person."""
    from kubeferry.transport.policy import TransferPolicy

    return TransferPolicy(
        speed_limit=settings.speed_limit,
        speed_time=settings.speed_time,
        timeout=settings.timeout,
        on_retry=lambda notice: settings.announce(notice.message),
    )


@contextmanager
def network(settings: Settings, url: str) -> Iterator[httpx.Client]:
    """The one place a service goes online: the offline gate, then the HTTP client."""
    from kubeferry.transport import http

    http.ensure_online(settings.offline, url)
    with http.open_client(policy=transfer_policy(settings), cancel=settings.cancel) as client:
        yield client
