"""Running jobs in a bounded pool, and the first of several candidates that exists."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kubeferry.errors import NotFoundError
from kubeferry.jobs.cancel import CancelToken, TransferCancelled
from kubeferry.jobs.threads import STOP_GRACE, ThreadGroup

T = TypeVar("T")


def first_available(candidates: Sequence[str], attempt: Callable[[str], T]) -> T:
    """`attempt` on each candidate in order until one is not a 404; the last 404 is raised.

    k3s images come as `.tar.zst`, or `.tar` where a release has no `.tar.zst`.
    """
    for candidate in candidates[:-1]:
        try:
            return attempt(candidate)
        except NotFoundError:
            continue
    return attempt(candidates[-1])


def run_parallel(
    tasks: Sequence[Callable[[], T]], *, workers: int = 4, cancel: CancelToken | None = None
) -> list[T]:
    """Run tasks in a bounded pool; results in input order; the first failure (in input order)
    is raised once every task ended. `cancel` is the token of the job the tasks belong to: once
    it is cancelled no further task starts.

    The workers are daemon threads (jobs/threads.py) rather than a ThreadPoolExecutor's: on
    Ctrl-C the job is cancelled (`cancel`: every read a watch of that token guards wakes) and the
    run ends within STOP_GRACE seconds even if a worker still waits for a server that never
    answered its request (no answer yet means no socket to wake, and an executor's threads are
    joined at exit, which waited out the 30 s read timeout). A worker cut short leaves at most a
    `.part` file, which the next run verifies as it resumes.
    """
    if not tasks:
        return []
    cancel = cancel or CancelToken()
    queued = list(enumerate(tasks))[::-1]
    outcomes: dict[int, tuple[bool, Any]] = {}
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queued or cancel.cancelled:
                    return
                index, task = queued.pop()
            try:
                outcome: tuple[bool, Any] = (True, task())
            except BaseException as exc:  # handed to the caller below
                outcome = (False, exc)
            with lock:
                outcomes[index] = outcome

    group = ThreadGroup()
    for _ in range(max(1, min(workers, len(tasks)))):
        group.start(work)
    try:
        group.wait()
    except BaseException:  # Ctrl-C reaches the main thread only
        cancel.cancel()
        group.wait(STOP_GRACE)  # a moment for the workers to write what they hold
        raise
    for index in range(len(tasks)):
        ok, value = outcomes.get(index, (False, TransferCancelled()))  # never ran: cancelled
        if not ok:
            raise value
    return [outcomes[index][1] for index in range(len(tasks))]
