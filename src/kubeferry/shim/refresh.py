"""The detached refresher: ask the server again and update the version cache (cold path).

Started by `background.start_refresh` as `python -S -c ... LOCK`, with the call's connection
flags in KUBEFERRY_REFRESH_FLAGS (the environment: secrets stay out of `ps`) and stdin, stdout
and stderr on /dev/null; it never prompts (exec plugins see no terminal) and always removes its
lock.
"""

from __future__ import annotations

import os


def main(argv: list[str]) -> int:
    """Probe the cluster the flags name, record the answer (or the failure), drop the lock."""
    lock = argv[0]
    given = os.environ.pop("KUBEFERRY_REFRESH_FLAGS", "")
    flags = [*argv[1:], *(flag for flag in given.split("\x1f") if flag)]
    try:
        from kubeferry.core.kuberlr_config import load_config
        from kubeferry.shim.context import Context
        from kubeferry.shim.resolve import ask_server
        from kubeferry.shim.versioncache import VersionCache, cache_file

        ctx = Context(load_config(os.environ), os.environ, flags)
        paths = ctx.kubeconfig_paths()
        cache = VersionCache(cache_file(ctx.environ, ctx.config.home))
        ask_server(paths, ctx, cache, ctx.fingerprint())
    except BaseException:  # noqa: S110 - detached: nobody to tell; the next call probes itself
        pass
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass
    return 0
