"""`kubeferry`: the command line. One module per command group; this one wires them."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Final

import click

from kubeferry import __version__
from kubeferry.cli.help import FerryGroup, adopt
from kubeferry.cli.options import hoist_global_options
from kubeferry.cli.render import CommandFailed
from kubeferry.errors import KubeferryError, UsageError

INTERRUPTED = (
    "kubeferry: interrupted; partial downloads (.part files) were kept: run the same command "
    "again to resume"
)
COMMANDS: Final = {
    "bundle": "kubeferry.cli.bundle:bundle",
    "cache": "kubeferry.cli.cache:cache",
    "catalog": "kubeferry.cli.catalog:catalog",
    "completion": "kubeferry.cli.version:completion",
    "doctor": "kubeferry.cli.doctor:doctor",
    "images": "kubeferry.cli.images:images",
    "keys": "kubeferry.cli.keys:keys",
    "kubectl": "kubeferry.cli.kubectl:kubectl",
    "mirror": "kubeferry.cli.mirror:mirror",
    "node": "kubeferry.cli.node:node",
    "registries": "kubeferry.cli.registries:registries",
    "shim": "kubeferry.cli.shim:shim",
    "version": "kubeferry.cli.version:version",
    "versions": "kubeferry.cli.versions:versions",
}
SUMMARIES: Final = {
    "bundle": "Everything an offline machine needs, verified, in one folder: create, inspect, "
    "verify, install, sign, push, pull.",
    "cache": "The Rancher Desktop k3s cache: list, add, verify, remove, clean.",
    "catalog": "The k3s version catalog (k3s-versions.json): update, convert.",
    "completion": "Print the shell completion script for bash, zsh or fish.",
    "doctor": "Offline readiness: cached versions, checksums, kubectl coverage.",
    "images": "Push the k3s airgap images into a registry.",
    "keys": "Signing keys for bundles (a key pair and its fingerprint): generate.",
    "kubectl": "kubectl binaries in the kuberlr folder: list, get, remove, which.",
    "mirror": "Serve or export bundles as a mirror of the upstream download sites.",
    "node": "Plain k3s nodes (k3s's air-gap install from a bundle, registry or mirror): "
    "install, check.",
    "registries": "Check or write the registries.yaml k3s uses.",
    "shim": "The kubectl wrapper: install, uninstall.",
    "version": "kubeferry's version, Python, platform and the paths it would use.",
    "versions": "List the k3s versions to choose from (offline: only verified cached ones).",
}
"""Static one-liners: the root's help would otherwise import every command module."""


class LazyGroup(FerryGroup):
    """Imports a command's module only when that command runs (each costs startup time)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, its module imported now."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return adopt(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from SUMMARIES, whole (no import, no "..." truncation)."""
        with formatter.section("Commands"):
            formatter.write_dl(sorted(SUMMARIES.items()))


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
@click.option("-v", "--verbose", count=True, help="More detail (whole URLs, plans, sources).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and requested data.")
@click.option(
    "--debug", is_flag=True, help="Show a Python traceback with an error (for bug reports)."
)
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
    debug: bool,
) -> None:
    """Carry k3s (as Rancher Desktop runs it) and a fitting kubectl across an air gap.

    Global options go before or after the command: `kubeferry bundle create DIR --arch arm64`.
    """

    def announce(message: str) -> None:
        if not quiet:
            click.echo(f"kubeferry: {message}", err=True)

    _collect_again()  # the command's modules are loaded (click resolved it before this runs)
    # Not at import: `--help` exits before this runs and needs none of settings' core modules.
    from kubeferry.settings import build_settings

    settings = build_settings(
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
    ctx.obj = settings
    # One token per command: Ctrl-C (SIGINT) and SIGTERM cancel it until the command ended.
    ctx.with_resource(settings.cancel.on_signals())
    if ctx.invoked_subcommand is None:  # bare `kubeferry`: the help, and success
        click.echo(ctx.get_help())


def _report_os_error(exc: OSError) -> None:
    where = f" ({exc.filename})" if exc.filename else ""
    click.echo(
        f"kubeferry: error: {exc.strerror or exc}{where}. Check that the folder "
        "exists, is writable and has free space, then run the command again.",
        err=True,
    )


def _interrupted() -> str:
    """What Ctrl-C left: `.part` files only when this run wrote some (install downloads none)."""
    partfiles = sys.modules.get("kubeferry.download.partfiles")
    if partfiles is not None and partfiles.partials_written():
        return INTERRUPTED
    return "kubeferry: interrupted"


_paused = False
_freeze = False


def _pause_collection(own_process: bool) -> None:
    """Loading a command allocates thousands of long-lived objects (modules, classes, options)
    and no garbage cycles: the cycle collector only walks them again and again (measured: 26 ms
    of an offline `bundle create`, benchmarks/RESULTS.md). It pauses while they load. Only the
    process's own command line (`own_process`) freezes them afterwards: a library caller's
    objects, garbage included, must not be frozen by a call of `main`."""
    global _paused, _freeze
    if gc.isenabled():
        gc.disable()
        _paused, _freeze = True, own_process


def _collect_again() -> None:
    """Collection resumes for the work (the loaded objects frozen first: never walked again)."""
    global _paused
    if _paused:
        _paused = False
        if _freeze:
            gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; exit 0 on success, 1 on a failure, 2 on a usage error."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    _pause_collection(own_process=argv is None)
    try:
        return _run(args, debug)
    finally:
        _collect_again()


def _run(args: list[str], debug: bool) -> int:
    try:
        cli.main(args=args, prog_name="kubeferry", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo(_interrupted(), err=True)
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
    except (KubeferryError, OSError) as exc:
        if debug:
            import traceback  # only with --debug: it costs every start ~5 ms

            traceback.print_exc()
        if isinstance(exc, KubeferryError):
            click.echo(f"kubeferry: error: {exc.message}", err=True)
        else:
            _report_os_error(exc)
        return 1
    except CommandFailed as exc:
        return exc.code
    except Exception as exc:  # a bug: one line for the person, the traceback with --debug
        if debug:
            raise
        click.echo(
            f"kubeferry: internal error: {type(exc).__name__}: {exc}. Run the command again "
            "with --debug and report the traceback.",
            err=True,
        )
        return 1
    return 0
