"""The kubectl wrapper: picks a kubectl within one minor of the server and runs it.

Compatible with kuberlr's folders and configuration. This package's warm path imports only the
standard library (os, sys, time): no YAML, no TLS, no json, no re. `tests/unit/test_shim.py`
holds it to that.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself costs the warm path
if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubeferry.shim.decide import Decision


def _fail(message: str) -> int:
    sys.stderr.write(f"kubeferry: {message}\n")
    return 255


def _run(path: str, args: list[str]) -> int:
    if not sys.platform.startswith("win"):
        try:
            os.execv(path, [path, *args])  # noqa: S606 - exec kubectl itself, as kuberlr does
        except OSError as exc:
            return _fail(f"cannot run {path}: {exc.strerror}")
    from kubeferry.shim.windows import run_child

    return run_child(path, args)


def which(environ: Mapping[str, str], args: list[str]) -> Decision:
    """The kubectl the wrapper would run for `args`, and why (for `kubeferry kubectl which`).

    The one door into the wrapper from the rest of kubeferry. Raises ConfigError or
    NoKubectlError (both KubeferryError) when it cannot choose.
    """
    from kubeferry.core.kuberlr_config import load_config
    from kubeferry.shim.context import Context
    from kubeferry.shim.decide import decide

    return decide(Context(load_config(environ), environ, args), client_only_commands=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `kubectl` (a link to this wrapper) and `kubeferry-kubectl`."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        decision = _choose(args)
    except KeyboardInterrupt:  # Ctrl-C while the server was asked: no traceback
        sys.stderr.write("\n")
        return 130
    if isinstance(decision, int):
        return decision
    assert decision.binary is not None
    return _run(decision.binary[1], args)


def _choose(args: list[str]) -> Decision | int:
    from kubeferry.core.kuberlr_config import load_config
    from kubeferry.errors import ConfigError, NoKubectlError
    from kubeferry.shim.context import Context
    from kubeferry.shim.decide import decide

    try:
        config = load_config(os.environ)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        ctx = Context(config, os.environ, args)
        decision = decide(ctx)
        if decision.notice:
            sys.stderr.write(f"kubeferry: {decision.notice}\n")
        if decision.download is not None or decision.stable:
            from kubeferry.shim.fetch import fetch_for

            decision = fetch_for(ctx, decision)
        elif decision.revalidate:
            from kubeferry.shim.background import start_refresh
            from kubeferry.shim.versioncache import cache_file

            start_refresh(cache_file(ctx.environ, config.home), ctx.flag_words(), ctx.now)
    except NoKubectlError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return _fail(f"internal error while choosing kubectl: {exc!r}")
    return decision
