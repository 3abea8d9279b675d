"""glibc functions Python's `os` module lacks (`sync_file_range`, `mallopt`), loaded on first use.

ctypes loads with the first download, never with a command that downloads nothing. Elsewhere
than Linux, or where the C library lacks the name, `function` answers None and the caller goes
on without it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


@functools.cache
def function(name: str, *argtypes: str) -> Callable[..., int] | None:
    """The C function `name` taking `argtypes` (ctypes type names such as "c_int"), returning
    an int; None when it cannot be had."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        call = getattr(ctypes.CDLL(None, use_errno=True), name)
        call.argtypes = [getattr(ctypes, kind) for kind in argtypes]
    except (ImportError, OSError, AttributeError):
        return None
    call.restype = ctypes.c_int
    return call  # type: ignore[no-any-return]
