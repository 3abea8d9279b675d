"""`kubeferry`: the command line. One module per command group; this one wires them."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence

import click

from kubeferry import __version__
from kubeferry.cli.options import hoist_global_options
from kubeferry.cli.render import CommandFailed
from kubeferry.errors import KubeferryError, UsageError
from kubeferry.settings import build_settings

INTERRUPTED = (
    "kubeferry: interrupted; partial downloads (.part files) were kept: run the same command "
    "again to resume"
)
COMMANDS = {
    "bundle": "kubeferry.cli.bundle:bundle",
    "cache": "kubeferry.cli.cache:cache",
    "catalog": "kubeferry.cli.catalog:catalog",
    "doctor": "kubeferry.cli.doctor:doctor",
    "images": "kubeferry.cli.images:images",
    "kubectl": "kubeferry.cli.kubectl:kubectl",
    "mirror": "kubeferry.cli.mirror:mirror",
    "registries": "kubeferry.cli.registries:registries",
    "shim": "kubeferry.cli.shim:shim",
    "versions": "kubeferry.cli.versions:versions",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (each costs startup time)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kubeferry")
@click.option("--cache-dir", metavar="DIR", help="Rancher Desktop cache folder (default: per OS).")
@click.option("--home", metavar="DIR", help="The home whose .kuberlr (and default cache) is used.")
@click.option(
    "--os",
    "os_names",
    metavar="OS",
    multiple=True,
    help="Target OS: linux, darwin, windows (default host); repeatable for bundles.",
)
@click.option(
    "--arch",
    "arches",
    metavar="ARCH",
    multiple=True,
    help="Target CPU: amd64, arm64 (default host); repeat or comma-separate for several.",
)
@click.option("--offline", is_flag=True, help="Never touch the network (also KUBEFERRY_OFFLINE=1).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Give up one download attempt after this long (also KUBEFERRY_TIMEOUT; 0: none).",
)
@click.option("-v", "--verbose", count=True, help="More detail; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and requested data.")
@click.pass_context
def cli(
    ctx: click.Context,
    cache_dir: str | None,
    home: str | None,
    os_names: tuple[str, ...],
    arches: tuple[str, ...],
    offline: bool,
    timeout: float | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Carry k3s (as Rancher Desktop runs it) and a fitting kubectl across an air gap."""

    def announce(message: str) -> None:
        if not quiet:
            click.echo(f"kubeferry: {message}", err=True)

    ctx.obj = build_settings(
        environ=dict(os.environ),
        cache_dir=cache_dir,
        home=home,
        os_names=os_names,
        arches=arches,
        offline=offline,
        verbosity=-1 if quiet else verbose,
        timeout=timeout,
        announce=announce,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; exit 0 on success, 1 on a failure, 2 on a usage error."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    verbose = any(a in ("-v", "--verbose", "-vv", "-vvv") for a in args)
    try:
        cli.main(args=args, prog_name="kubeferry", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo(INTERRUPTED, err=True)
        return 130
    except click.UsageError as exc:
        exc.show()
        return 2
    except UsageError as exc:
        click.echo(
            f"Usage: kubeferry [OPTIONS] COMMAND [ARGS]...\n\nError: {exc.message}", err=True
        )
        return 2
    except click.ClickException as exc:
        click.echo(f"kubeferry: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except KubeferryError as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"kubeferry: error: {exc.message}", err=True)
        return 1
    except OSError as exc:
        if verbose:
            traceback.print_exc()
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(
            f"kubeferry: error: {exc.strerror or exc}{where}. Check that the folder "
            "exists, is writable and has free space, then run the command again.",
            err=True,
        )
        return 1
    except KeyboardInterrupt:
        click.echo(INTERRUPTED, err=True)
        return 130
    except CommandFailed as exc:
        return exc.code
    return 0
