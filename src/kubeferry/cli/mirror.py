"""`kubeferry mirror serve|export`: one bundle (or several) for a whole fleet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubeferry.cli.render import CommandFailed, emit, human_size
from kubeferry.cli.trust_options import trust_options
from kubeferry.settings import Settings

if TYPE_CHECKING:
    from kubeferry.cli.render import Console
    from kubeferry.verification.keys import Trust

DEFAULT_LISTEN = "127.0.0.1:8080"


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:8080` for IPv6) -> (host, port); click's BadParameter otherwise."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{text!r} is not HOST:PORT (like 127.0.0.1:8080; port 0 picks)")
    return host, int(port)


@click.group()
def mirror() -> None:
    """Serve verified bundles to a fleet, in the upstream URL layouts."""


@mirror.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--listen", default=DEFAULT_LISTEN, show_default=True, help="HOST:PORT (port 0: any)."
)
@click.option("--tls-cert", type=click.Path(path_type=Path), help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(path_type=Path), help="PEM private key of --tls-cert.")
@click.option(
    "--access-log", type=click.Path(path_type=Path), help="Access log file (default: stderr)."
)
@click.option("--public-url", default="", help="The base URL clients use: all links point there.")
@click.option(
    "--public-name",
    "public_names",
    multiple=True,
    help="A host name clients use (repeatable): a Host header naming it is used in links.",
)
@click.option(
    "--copies-dir",
    type=click.Path(path_type=Path),
    help="Folder for the private verified copies it sends from (default: the temp folder).",
)
@trust_options
@click.option(
    "--blob-cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the k3s airgap archives are unpacked once for /v2/ (default: "
    "${XDG_CACHE_HOME:-~/.cache}/kubeferry/mirror-blobs).",
)
@click.pass_obj
def serve(
    settings: Settings,
    bundles: tuple[Path, ...],
    listen: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    access_log: Path | None,
    public_url: str,
    public_names: tuple[str, ...],
    copies_dir: Path | None,
    trust: Trust,
    blob_cache: Path | None,
) -> None:
    """Serve BUNDLE... until Ctrl-C; the first line says where. The registry API (/v2/) serves
    the bundles' workload images and k3s airgap images, read-only."""
    from kubeferry.services.mirror import default_blob_cache, mirror_status, serve_mirror

    host, port = parse_listen(listen)
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together.")
    if public_url and not public_url.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"{public_url!r} is not an http:// or https:// URL", param_hint="--public-url"
        )

    def ready(listening: str, base: str) -> None:
        sys.stdout.write("\n".join(mirror_status(listening, base)) + "\n")
        sys.stdout.flush()

    tls = (tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    code = serve_mirror(
        bundles,
        host,
        port,
        tls=tls,
        access_log=access_log,
        public_url=public_url,
        public_names=public_names,
        copies_dir=copies_dir,
        on_ready=ready,
        trust=trust,
        blob_cache=blob_cache or default_blob_cache(settings),
        warn=lambda note: sys.stderr.write(f"kubeferry mirror: {note}\n"),
    )
    if code:
        raise CommandFailed(code)  # 130 after Ctrl-C, as a shell expects


@mirror.command()
@click.argument(
    "arguments", nargs=-1, required=True, metavar="BUNDLE... DIR", type=click.Path(path_type=Path)
)
@click.option("--base-url", default="", help="The address clients use (for links in the JSON).")
@click.option("--force", is_flag=True, help="Replace DIR even if it is not a previous export.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@trust_options
def export(
    arguments: tuple[Path, ...], base_url: str, force: bool, as_json: bool, trust: Trust
) -> None:
    """Write BUNDLE... as static files into DIR (the last argument), with an nginx snippet."""
    from kubeferry.services.mirror import export_mirror

    if len(arguments) < 2:
        raise click.UsageError("give at least one BUNDLE and the DIR to write.")
    *folders, target = arguments
    report = export_mirror(folders, target, base_url=base_url, force=force, trust=trust)

    def draw(console: Console) -> None:
        console.print(
            f"exported {report.files} files, {human_size(report.bytes)} to {report.folder}"
        )
        channels = ", ".join(f"{n} -> {t}" for n, t in sorted(report.channels.items()))
        console.print(f"channels: {channels or 'none'}")
        console.print(f"nginx: include {report.snippet} inside the server whose root is the folder")

    emit(report.as_dict(), as_json=as_json, text=draw)
