"""How long work reports progress: the callback types every layer shares."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int | None], None]
"""Called with the bytes of the file on disk so far (resumed ones included) and the total."""
ProgressFactory = Callable[[str], Progress | None]
"""Makes the reporter for one file from its label (None: no progress shown)."""
