"""Download progress on stderr (bytes, rate, ETA), only when stderr is a terminal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from kubeferry.cli.render import is_terminal, rich_stderr_console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from kubeferry.jobs.progress import Progress as ProgressCallback


class Board:
    """One bar per file; `callback(label)` hands the download engine its reporter."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._lock = threading.Lock()

    def callback(self, label: str) -> ProgressCallback | None:
        """A reporter for one file, or None when progress is not shown."""
        progress = self._progress
        if progress is None:
            return None
        task: list[TaskID] = []

        def report(done: int, total: int | None) -> None:
            with self._lock:
                if not task:
                    task.append(progress.add_task(label, total=total))
                progress.update(task[0], completed=done, total=total)

        return report


@contextmanager
def progress_board(*, enabled: bool) -> Iterator[Board]:
    """A Board that draws on stderr when `enabled` and stderr is a terminal."""
    if not (enabled and is_terminal()):
        yield Board(None)
        return
    from rich.progress import (  # only on a terminal: rich costs every command ~40 ms
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=rich_stderr_console(), transient=False) as progress:
        yield Board(progress)
