"""The one routine that fetches a k3s release (sums, binary, images) into a folder, verified.

k3s's `install.sh` at the release's tag comes along (`install.sh` beside the release files).
Its digest is in no sums file: it is trusted on first fetch (the digest computed then goes into
a bundle's manifest and is checked from there on). A release whose script cannot be found (404)
is still fetched; `kubeferry node install` then says what is missing.

Used by `cache add` and `cache verify --repair` (the cache's version folders) and by `bundle
create` (the bundle's `k3s/<tag>/`). The sums file comes first; the binary and the images
archive (`.tar.zst`, else `.tar`) are then downloaded in parallel and each must match it before
it gets its final name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from kubeferry.core.endpoints import Endpoints
from kubeferry.core.layouts import INSTALL_SCRIPT_NAME
from kubeferry.core.platforms import K3sAssets
from kubeferry.core.versions import K3sTag
from kubeferry.download.engine import (
    DownloadJob,
    DownloadResult,
    discard_partial,
    download,
)
from kubeferry.errors import NotFoundError, SumsFileError, UpstreamError
from kubeferry.files.textfiles import decode_text, read_bytes
from kubeferry.jobs.parallel import first_available, run_parallel
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.stores.cache import present_images
from kubeferry.transport.http import cancel_of
from kubeferry.verification.sums import parse_sums


def _getter(
    client: httpx.Client,
    endpoints: Endpoints,
    folder: Path,
    tag: K3sTag,
    progress_for: ProgressFactory,
    resume: bool,
    connections: int | None,
) -> Callable[..., DownloadResult]:
    """`get(name, sha256=None)`: one release file into `folder`, verified."""

    def get(name: str, sha256: str | None = None) -> DownloadResult:
        job = DownloadJob(endpoints.k3s_asset_url(str(tag), name), folder / name, sha256=sha256)
        keep = resume and bool(sha256)
        progress = progress_for(f"{tag} {name}")
        return download(client, job, progress=progress, keep_existing=keep, connections=connections)

    return get


def fetch_release(
    client: httpx.Client,
    endpoints: Endpoints,
    folder: Path,
    tag: K3sTag,
    arch: str,
    *,
    progress_for: ProgressFactory = lambda label: None,
    wanted: set[str] | None = None,
    workers: int = 3,
    connections: int | None = None,
    script: bool = True,
) -> list[DownloadResult]:
    """Fetch `tag`'s files for `arch` into `folder`; `wanted` limits it to those names, and
    `script` False leaves install.sh (one per tag, any arch) to another arch's call. With
    `wanted` None (new, resumed, or a bad sums file) the sums file is fetched again and finished
    files of a killed run are kept when they match; with a set, only those are fetched."""
    assets, resume, results = K3sAssets(arch), wanted is None, []
    folder.mkdir(parents=True, exist_ok=True)
    get = _getter(client, endpoints, folder, tag, progress_for, resume, connections)

    sums_url = endpoints.k3s_asset_url(str(tag), assets.sums)
    if resume:
        results.append(get(assets.sums))
    sums_bytes = read_bytes(folder / assets.sums, missing="", error=SumsFileError)
    sums_text = decode_text(sums_bytes, source=sums_url, error=SumsFileError)
    digests = parse_sums(sums_text, source=sums_url)
    existing_images = present_images(folder, assets)

    def binary() -> list[DownloadResult]:
        return [get(assets.binary, listed_digest(digests, assets.binary, assets.sums))]

    def images() -> list[DownloadResult]:
        names = [existing_images] if existing_images else list(assets.images)
        listed = [name for name in names if name in digests]
        if not listed:
            listed_digest(digests, names[0], assets.sums)

        def attempt(name: str) -> DownloadResult:
            try:
                return get(name, digests[name])
            except NotFoundError:
                discard_partial(folder / name)
                raise

        return [first_available(listed, attempt)]

    wants = (
        wanted is None or assets.binary in wanted,
        wanted is None or wanted & set(assets.images),
        script and (wanted is None or INSTALL_SCRIPT_NAME in wanted),
    )
    jobs = (binary, images, _script_task(client, endpoints, folder, tag, progress_for))
    tasks = [task for task, want in zip(jobs, wants, strict=True) if want]
    for group in run_parallel(tasks, workers=workers, cancel=cancel_of(client)):
        results.extend(group)
    (folder / assets.binary).chmod(0o755)
    return results


def _script_task(
    client: httpx.Client,
    endpoints: Endpoints,
    folder: Path,
    tag: K3sTag,
    progress_for: ProgressFactory,
) -> Callable[[], list[DownloadResult]]:
    def script() -> list[DownloadResult]:
        found = fetch_install_script(client, endpoints, folder, tag, progress_for)
        return [found] if found is not None else []

    return script


def fetch_install_script(
    client: httpx.Client,
    endpoints: Endpoints,
    folder: Path,
    tag: K3sTag,
    progress_for: ProgressFactory = lambda label: None,
) -> DownloadResult | None:
    """`install.sh` at `tag` into `folder` (trust on first fetch); None when upstream has none."""
    url = endpoints.k3s_install_script(str(tag))
    job = DownloadJob(url, folder / INSTALL_SCRIPT_NAME)
    try:
        return download(client, job, progress=progress_for(f"{tag} {INSTALL_SCRIPT_NAME}"))
    except NotFoundError:
        discard_partial(folder / INSTALL_SCRIPT_NAME)
        return None
    except UpstreamError as exc:
        raise UpstreamError(
            f"{exc.message} (k3s's install.sh of {tag}; where another host mirrors it, set "
            "KUBEFERRY_K3S_INSTALL_SCRIPT_URL to the base that holds <tag>/install.sh, or "
            "KUBEFERRY_MIRROR to a kubeferry mirror)",
            url=url,
        ) from exc


def listed_digest(digests: dict[str, str], name: str, sums_name: str) -> str:
    """The digest the sums file gives `name`; SumsFileError when it lists none."""
    if name not in digests:
        raise SumsFileError(
            f"{sums_name} does not list {name}, so {name} cannot be verified. The release's "
            "sums file is incomplete; use another k3s version or a mirror with a complete one.",
            path=sums_name,
        )
    return digests[name]
