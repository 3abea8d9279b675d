"""The kuberlr folder: list kubectl binaries, resolve versions on the mirror, fetch verified ones.

`1.30` means the newest 1.30 patch (`<mirror>/release/stable-1.30.txt`), `stable` the newest
release (`stable.txt`). A binary is verified against `.sha256` beside it (`.sha512` where only
that exists) before it gets its name `kubectl<M.m.p>[.exe]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kubeferry.core.endpoints import Endpoints
from kubeferry.core.kuberlr import all_binaries, kubectl_file_name
from kubeferry.core.versions import KubeVersion, parse_kube_version
from kubeferry.errors import KubeferryError, NotFoundError, UpstreamError
from kubeferry.stores.lock import hold

if TYPE_CHECKING:  # listing binaries is a local command: the network stack loads on first use
    import httpx

    from kubeferry.download.engine import DownloadResult
    from kubeferry.jobs.progress import Progress


@dataclass(frozen=True)
class LocalKubectl:
    """One kubectl binary kuberlr (and the wrapper) can see."""

    version: KubeVersion
    path: Path
    system: bool


def list_kubectls(local_dir: Path, system_path: str | None, *, windows: bool) -> list[LocalKubectl]:
    """Binaries in the kuberlr folder, then in SystemPath, newest first (the wrapper's scan)."""
    found = [
        LocalKubectl(KubeVersion(*version), Path(path), Path(path).parent != local_dir)
        for version, path in all_binaries(str(local_dir), system_path or "", windows=windows)
    ]
    return sorted(found, key=lambda item: (item.version.sort_key(), not item.system), reverse=True)


def _read_text(client: httpx.Client, url: str) -> str:
    from kubeferry.transport import http

    response = http.get(client, url)
    if response.status_code == 404:
        raise NotFoundError(f"{url} answered 404: the mirror does not have it.", url=url)
    if response.status_code != 200:
        raise http.status_error(response, "Check the mirror (KUBEFERRY_KUBECTL_MIRROR_URL).")
    return response.text.strip()


def resolve_kubectl_version(client: httpx.Client, endpoints: Endpoints, spec: str) -> KubeVersion:
    """`1.30.6` as is; `1.30` via stable-1.30.txt; `stable`/`latest` via stable.txt."""
    text = spec.strip()
    if text in ("stable", "latest"):
        url = endpoints.kubectl_stable_url()
    else:
        version = parse_kube_version(text)
        if version is None:
            raise KubeferryError(f"{spec!r} is not a kubectl version like 1.30 or 1.30.6.")
        if version.patch is not None:
            return version
        url = endpoints.kubectl_stable_url(f"{version.major}.{version.minor}")
    answer = _read_text(client, url)
    resolved = parse_kube_version(answer)
    if resolved is None or resolved.patch is None:
        raise UpstreamError(f"{url} answered {answer[:40]!r}, not a version like v1.30.6.", url=url)
    return resolved


def expected_digest(client: httpx.Client, url: str) -> tuple[str, str]:
    """(algorithm, digest) from `<url>.sha256`, or `<url>.sha512` where only that exists."""
    from kubeferry.verification.sums import parse_digest_file

    for algorithm in ("sha256", "sha512"):
        try:
            text = _read_text(client, f"{url}.{algorithm}")
        except NotFoundError:
            continue
        return algorithm, parse_digest_file(text, algorithm=algorithm, source=f"{url}.{algorithm}")
    raise NotFoundError(
        f"neither {url}.sha256 nor {url}.sha512 exists, so {url} cannot be verified. "
        "Check the version and the mirror.",
        url=url,
    )


def download_kubectl(
    client: httpx.Client,
    endpoints: Endpoints,
    version: str,
    target_os: str,
    arch: str,
    folder: Path,
    *,
    progress: Progress | None = None,
    connections: int | None = None,
) -> DownloadResult:
    """The one kubectl download: `version` into `folder` as kuberlr names it, verified, 0755.

    `connections`: per large file when the mirror serves ranges (None: the default).
    """
    from kubeferry.download.engine import DownloadJob, download

    url = endpoints.kubectl_url(version, target_os, arch)
    algorithm, digest = expected_digest(client, url)
    destination = folder / kubectl_file_name(version, target_os)
    sha256, sha512 = (digest, None) if algorithm == "sha256" else (None, digest)
    job = DownloadJob(url, destination, sha256=sha256, sha512=sha512)
    result = download(client, job, keep_existing=True, progress=progress, connections=connections)
    destination.chmod(0o755)
    return result


def fetch_kubectl(
    endpoints: Endpoints,
    version: str,
    target_os: str,
    arch: str,
    folder: str,
    *,
    timeout: float = 30.0,
) -> Path:
    """`download_kubectl` with its own client (the wrapper's cold path), under the folder's lock."""
    from kubeferry.transport import http

    with hold(Path(folder)), http.open_client(read_timeout=timeout) as client:
        result = download_kubectl(client, endpoints, version, target_os, arch, Path(folder))
    return result.job.destination
