"""`kubeferry kubectl list|get|which`: the kuberlr folder and the wrapper's choice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from kubeferry.cli.progress import progress_board
from kubeferry.cli.render import emit, table
from kubeferry.core.endpoints import Endpoints
from kubeferry.core.kuberlr import folder
from kubeferry.core.kuberlr_config import Config, load_config
from kubeferry.core.platforms import host_platform
from kubeferry.core.skew import format_version
from kubeferry.errors import ConfigError, NoKubectlError
from kubeferry.net import http
from kubeferry.net.download import run_parallel
from kubeferry.settings import Settings
from kubeferry.shim import which as wrapper_choice
from kubeferry.stores.kubectls import download_kubectl, list_kubectls, resolve_kubectl_version

if TYPE_CHECKING:
    from rich.console import Console


def wrapper_environ(settings: Settings) -> dict[str, str]:
    """The environment the wrapper would see, with HOME set to --home."""
    return {**settings.environ, "HOME": str(settings.home)}


def kuberlr_config(settings: Settings) -> Config:
    """kuberlr's configuration as the wrapper on the target would read it."""
    try:
        return load_config(wrapper_environ(settings), windows=settings.target_os == "windows")
    except ConfigError as exc:
        raise ConfigError(f"kuberlr config: {exc.message}", path=exc.path) from exc


@click.group()
def kubectl() -> None:
    """kubectl binaries in the kuberlr folder (~/.kuberlr/<os>-<arch>)."""


@kubectl.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_command(settings: Settings, as_json: bool) -> None:
    """kubectl binaries the wrapper and kuberlr can use, newest first."""
    config = kuberlr_config(settings)
    rows = []
    for arch in settings.arches:
        for item in list_kubectls(
            settings.kuberlr_dir(arch), config.system_path, windows=settings.target_os == "windows"
        ):
            rows.append(
                {
                    "version": item.version.short,
                    "path": str(item.path),
                    "arch": arch,
                    "where": "system" if item.system else "kuberlr",
                }
            )
    data = {
        "folders": [str(settings.kuberlr_dir(a)) for a in settings.arches],
        "system_path": config.system_path,
        "kubectls": rows,
    }

    def draw(console: Console) -> None:
        if not rows:
            console.print(f"no kubectl in {', '.join(data['folders'])} or {config.system_path}")
            return
        console.print(
            table(
                ("VERSION", "WHERE", "PATH"), [(r["version"], r["where"], r["path"]) for r in rows]
            )
        )

    emit(data, as_json=as_json, text=draw)


@kubectl.command()
@click.argument("versions", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def get(settings: Settings, versions: tuple[str, ...], as_json: bool) -> None:
    """Download kubectl VERSION (1.30 = newest 1.30 patch) into the kuberlr folder, verified."""
    config = kuberlr_config(settings)
    # kuberlr's KubeMirrorUrl (file or variable) counts unless KUBEFERRY_KUBECTL_MIRROR_URL is set.
    endpoints = Endpoints.from_environ(settings.environ, kube_mirror_url=config.mirror_url)
    http.ensure_online(settings.offline, endpoints.kubectl_mirror_url)
    with http.open_client() as client, progress_board(enabled=not as_json) as board:
        resolved = [resolve_kubectl_version(client, endpoints, v).short for v in versions]
        work = [(v, arch) for v in dict.fromkeys(resolved) for arch in settings.arches]

        def task(version: str, arch: str) -> Any:
            progress = board.callback(f"kubectl {version} {arch}")
            return lambda: download_kubectl(
                client,
                endpoints,
                version,
                settings.target_os,
                arch,
                settings.kuberlr_dir(arch),
                progress=progress,
            )

        paths = run_parallel([task(v, a) for v, a in work], workers=3)
    data = {
        "kubectls": [
            {"version": v, "arch": a, "path": str(p)} for (v, a), p in zip(work, paths, strict=True)
        ]
    }

    def draw(console: Console) -> None:
        for item in data["kubectls"]:
            console.print(f"kubectl {item['version']} ({item['arch']}): verified -> {item['path']}")

    emit(data, as_json=as_json, text=draw)


@kubectl.command()
@click.option("--context", "context", default=None, help="Kubeconfig context to ask.")
@click.option("--kubeconfig", "kubeconfig", default=None, help="Kubeconfig file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def which(settings: Settings, context: str | None, kubeconfig: str | None, as_json: bool) -> None:
    """Which kubectl the wrapper would run for the current context, and why."""
    args = [
        *(["--context", context] if context else []),
        *(["--kubeconfig", kubeconfig] if kubeconfig else []),
    ]
    environ = wrapper_environ(settings)
    if settings.offline:
        environ["KUBEFERRY_OFFLINE"] = "1"
    kuberlr_config(settings)  # a broken config file is reported as the wrapper would
    try:
        decision = wrapper_choice(environ, args)
    except NoKubectlError as exc:
        raise click.ClickException(str(exc)) from exc
    local_dir = folder(str(settings.home), *host_platform())
    data = {
        "path": decision.binary[1] if decision.binary else None,
        "version": format_version(decision.binary[0]) if decision.binary else None,
        "server": format_version(decision.server) if decision.server else None,
        "source": decision.source,
        "download": format_version(decision.download) if decision.download else None,
        "reasons": decision.reasons,
    }

    def draw(console: Console) -> None:
        if data["path"]:
            console.print(data["path"])
        else:
            console.print(f"would download kubectl {data['download']} into {local_dir}")
        for reason in decision.reasons:
            console.print(f"  - {reason}")

    emit(data, as_json=as_json, text=draw)
