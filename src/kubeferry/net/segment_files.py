"""The files of a download in pieces: the part opened safely, and the pieces state beside it.

`.<name>.part.segments.json` lists the finished pieces (url, size, validator, piece size), so an
interrupted download in pieces resumes with the pieces it lacks (net/segmented.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

from kubeferry.core.textfiles import open_plain, read_bytes
from kubeferry.errors import KubeferryError

STATE_SUFFIX: Final = ".part.segments.json"


def state_path(destination: Path) -> Path:
    """`.<name>.part.segments.json` beside the destination."""
    return destination.with_name(f".{destination.name}{STATE_SUFFIX}")


def saved_state(destination: Path, url: str) -> dict[str, Any] | None:
    """The pieces state of an interrupted segmented download of `url`, if there is one."""
    try:  # never through a link, never blocking on a FIFO; anything odd means "no state"
        state = json.loads(read_bytes(state_path(destination), missing=""))
    except (KubeferryError, OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("url") != url:
        return None
    if not isinstance(state.get("size"), int) or not isinstance(state.get("done"), list):
        return None
    return state


def open_part(part: Path) -> int:
    """The part file for reading and writing, never through a link, and only a regular file."""
    return open_plain(part, os.O_RDWR | os.O_CREAT)
