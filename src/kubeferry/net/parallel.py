"""Running jobs in a bounded pool, and the first of several candidates that exists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from kubeferry.errors import NotFoundError
from kubeferry.net.transfer import cancel_transfers

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


def run_parallel(tasks: Sequence[Callable[[], T]], *, workers: int = 4) -> list[T]:
    """Run tasks in a bounded pool; results in input order; the first failure is raised."""
    if not tasks:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks))))
    try:
        futures = [pool.submit(task) for task in tasks]
        errors = [future.exception() for future in futures]
    except BaseException:
        # Ctrl-C reaches the main thread only: stop the transfers in every worker (their
        # socket reads return at once), drop the tasks not started, then let it through.
        cancel_transfers()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    for error in errors:
        if error is not None:
            raise error
    return [future.result() for future in futures]
