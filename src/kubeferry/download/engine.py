"""Resumable, verified, parallel downloads into a destination folder.

A file streams into `.<name>.part` beside its destination (never the system temp folder: a rename
across disks fails), hashed while it streams. An interrupted download resumes with `Range` and
`If-Range`; a 200 answer (Range ignored, or the validator changed) starts over. 429, 5xx, dropped
connections, stalls and attempts over the timeout are retried with bounded exponential backoff
(or the server's `Retry-After`, capped), each retry announced through the policy's `on_retry`; a
404 is not retried. The final name appears only after the digest matched (`os.replace`); a
mismatch deletes the bad bytes.

The digest is of the bytes on disk: the writer hashes what it writes, and before the rename the
`.part` must still be the same inode at the size written (fsynced). The target's lock
(`stores/lock.py`) keeps one writer per `.part`, so hashing the file again would only double the
disk reads; the inode and size check catches any other program writing to or replacing it.
Errors name the URL that answered (a storage URL after a redirect) and the one asked.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from kubeferry.download import segmented
from kubeferry.download.partfiles import (
    discard_partial,
    meta_path,
    part_path,
    part_size,
    read_validator,
    storage_error,
    validator_of,
    write_validator,
)
from kubeferry.download.writer import HashingWriter
from kubeferry.errors import ChecksumError, NotFoundError, UnsafePathError, UpstreamError
from kubeferry.files.hashing import feed_file, hash_file, new_hashers
from kubeferry.files.safe import remove_plain
from kubeferry.jobs.cancel import CancelToken
from kubeferry.jobs.progress import Progress, ProgressFactory
from kubeferry.transport import http
from kubeferry.transport.policy import (
    RetryNotice,
    RetryPolicy,
    TransferPolicy,
    Watch,
    WatchTripped,
    client_policy,
    retry_after,
)

__all__ = [  # Progress and ProgressFactory live in jobs/progress.py; 0.2 imported them here
    "Progress",
    "ProgressFactory",
    "RetryNotice",
    "RetryPolicy",
    "TransferPolicy",
    "discard_partial",
    "part_path",
]

RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DownloadJob:
    """One file to fetch: where from, where to, and what it must hash to."""

    url: str
    destination: Path
    sha256: str | None = None
    sha512: str | None = None
    size: int | None = None

    @property
    def expected(self) -> dict[str, str]:
        """Algorithm -> expected lowercase digest."""
        found = {"sha256": self.sha256, "sha512": self.sha512}
        return {name: value.lower() for name, value in found.items() if value}


@dataclass(frozen=True)
class DownloadResult:
    """What one download did (`fetched` counts the body bytes of every attempt)."""

    job: DownloadJob
    size: int
    fetched: int
    resumed_from: int
    sha256: str
    skipped: bool = False


@dataclass
class _Attempt:
    offset: int = 0
    hashers: dict[str, hashlib._Hash] = field(default_factory=dict)
    identity: tuple[int, int, int] | None = None


@dataclass
class _Transfer:
    """One file across its attempts."""

    job: DownloadJob
    policy: TransferPolicy
    progress: Progress | None
    cancel: CancelToken
    fetched: int = 0
    answered: str = ""  # the URL that answered last (a storage URL after a redirect)

    @property
    def source(self) -> str:
        """The URL that answered, and the one asked when a redirect led there."""
        if self.answered in ("", self.job.url):
            return self.job.url
        return f"{self.answered} (redirected from {self.job.url})"


class _Retryable(Exception):
    """A failure worth another attempt (the part is kept); `sequential`: one connection on."""

    def __init__(
        self, message: str, *, wait: float | None = None, sequential: bool = False
    ) -> None:
        super().__init__(message)
        self.wait, self.sequential = wait, sequential


def _start_hashers(job: DownloadJob, part: Path, offset: int) -> dict[str, hashlib._Hash]:
    """Hashers that have already seen the `offset` bytes a resumed download keeps."""
    hashers = new_hashers({"sha256", *job.expected})
    if offset:
        feed_file(hashers, part, offset)
    return hashers


def _request_headers(job: DownloadJob, offset: int) -> dict[str, str]:
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = read_validator(job.destination, job.url)
        if validator:
            headers["If-Range"] = validator
    return headers


def _check_status(response: httpx.Response, transfer: _Transfer) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    if status == 404:
        raise NotFoundError(
            f"{transfer.source} answered 404 Not Found: the file does not exist there. Check the "
            "version and the mirror address.",
            url=str(response.url),
        )
    if status in RETRY_STATUSES:
        wait = retry_after(response.headers.get("Retry-After"))
        raise _Retryable(f"HTTP {status} {response.reason_phrase}".strip(), wait=wait)
    response.read()
    raise http.status_error(response, "Check the URL and the mirror; nothing was saved.")


def _open_body(response: httpx.Response, transfer: _Transfer, offset: int) -> int:
    """Check the answer to a (ranged) request; the offset the body starts at."""
    transfer.answered = str(response.url)
    if response.status_code == 416:
        discard_partial(transfer.job.destination)
        raise _Retryable("HTTP 416: the partial file did not fit the server's file")
    _check_status(response, transfer)
    if response.status_code == 200 or not offset:
        return 0
    if not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
        discard_partial(transfer.job.destination)
        raise _Retryable("the server answered a different range")
    return offset


# --- the segmented hook (download/segmented.py): one large file over several connections ----------


def _segments(
    client: httpx.Client,
    transfer: _Transfer,
    connections: int,
    response: httpx.Response | None,
) -> _Attempt | None:
    """Resume a segmented download, or lead one from a fresh large 200 answer; else None."""
    job, progress = transfer.job, transfer.progress
    algorithms, part = {"sha256", *job.expected}, part_path(job.destination)
    try:
        if response is None:
            done = segmented.resume(
                client,
                job.url,
                part,
                algorithms=algorithms,
                connections=connections,
                progress=progress,
                cancel=transfer.cancel,
                policy=transfer.policy,
            )
        else:
            done = segmented.fetch(
                client,
                job.url,
                part,
                size=int(response.headers["Content-Length"]),
                validator=validator_of(response),
                algorithms=algorithms,
                connections=connections,
                progress=progress,
                response=response,  # it keeps streaming; helpers join only when it is slow
                cancel=transfer.cancel,
                policy=transfer.policy,
            )
    except segmented.SegmentsRestart as exc:
        raise _Retryable(f"{exc}; starting over on one connection", sequential=True) from exc
    if done is None:
        return None
    transfer.fetched += done.fetched
    return _Attempt(done.kept, done.hashers, done.identity)  # kept > 0: a resume, restartable


# --- one sequential attempt -------------------------------------------------------------------


def _stream_once(client: httpx.Client, transfer: _Transfer, connections: int = 1) -> _Attempt:
    job, progress = transfer.job, transfer.progress
    part = part_path(job.destination)
    # A part written in pieces resumes in pieces, whatever `connections` says now.
    try:
        if resumed := _segments(client, transfer, connections, None):
            return resumed
    except OSError as exc:
        raise storage_error(exc, job.destination, part) from exc
    started = time.monotonic()
    offset = part_size(part)
    watch: Watch | None = None
    try:
        with client.stream("GET", job.url, headers=_request_headers(job, offset)) as response:
            offset = _open_body(response, transfer, offset)
            if not offset and segmented.wanted(response, connections):
                whole = _segments(client, transfer, connections, response)
                assert whole is not None  # a lead answer always ends in a result or an error
                return whole
            attempt = _Attempt(offset=offset)
            write_validator(job.destination, job.url, response)
            attempt.hashers = _start_hashers(job, part, offset)
            length = response.headers.get("Content-Length", "")
            total = offset + int(length) if length.isascii() and length.isdigit() else job.size
            if progress:
                progress(offset, total)
            done = offset
            with Watch(transfer.policy, response, started, transfer.cancel) as watch:
                sink = HashingWriter(part, "ab" if offset else "wb", attempt.hashers)
                with sink:
                    # No re-chunking in httpx: bytes it buffers would be lost when the peer drops.
                    for chunk in response.iter_raw():
                        sink.feed(chunk)
                        transfer.fetched += len(chunk)
                        done += len(chunk)
                        watch.count(len(chunk))
                        if progress:
                            progress(done, total)
                attempt.identity = sink.identity
    except (httpx.HTTPError, WatchTripped) as exc:
        transfer.cancel.check()
        if watch is not None and watch.reason:
            raise _Retryable(watch.reason) from exc
        if isinstance(exc, httpx.TimeoutException | httpx.TransportError):
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        raise http.transport_error(exc, transfer.source) from exc  # type: ignore[arg-type]
    except UnsafePathError:
        raise
    except OSError as exc:
        raise storage_error(exc, job.destination, part) from exc
    return attempt


def _finish(transfer: _Transfer, attempt: _Attempt) -> DownloadResult:
    job = transfer.job
    part = part_path(job.destination)
    digests = {name: hasher.hexdigest() for name, hasher in attempt.hashers.items()}
    for name, expected in job.expected.items():
        if digests[name] != expected:
            discard_partial(job.destination)
            raise ChecksumError(
                f"{transfer.source} has {name} {digests[name]}, expected {expected}; the bad "
                "bytes were deleted. The mirror or the sums file is wrong or the transfer was "
                "corrupted: try again, or check the mirror.",
                url=transfer.answered or job.url,
                expected=expected,
                actual=digests[name],
            )
    # The hashers saw every byte written; the same inode at the same size under this name
    # proves those are the bytes on disk (nobody else wrote or swapped the file meanwhile).
    found = os.lstat(part)
    if attempt.identity != (found.st_dev, found.st_ino, found.st_size):
        discard_partial(job.destination)
        raise _Retryable(f"{part} changed while it was written (another program wrote to it)")
    part.replace(job.destination)
    remove_plain(meta_path(job.destination))
    size = found.st_size
    return DownloadResult(job, size, transfer.fetched, attempt.offset, digests["sha256"])


def existing_match(job: DownloadJob) -> DownloadResult | None:
    """A result for a destination already present with the expected digests, else None."""
    if not job.expected or not os.path.lexists(job.destination):
        return None
    digests = hash_file(job.destination, ("sha256", *job.expected))  # refuses links
    if any(digests[name] != value for name, value in job.expected.items()):
        return None
    size = os.lstat(job.destination).st_size
    return DownloadResult(job, size, 0, 0, digests["sha256"], skipped=True)


def _failure(transfer: _Transfer, attempts: int, last_error: str) -> UpstreamError:
    part = part_path(transfer.job.destination)
    kept = part.is_file() and not part.is_symlink() and part.stat().st_size > 0
    what = (
        f"The partial file {part} was kept: run the same command again to resume."
        if kept
        else "Nothing was saved; check the network and the mirror, then run the command again."
    )
    return UpstreamError(
        f"{transfer.source} failed {attempts} times (last: {last_error}). {what}",
        url=transfer.answered or transfer.job.url,
    )


def download(
    client: httpx.Client,
    job: DownloadJob,
    *,
    progress: Progress | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
    keep_existing: bool = False,
    policy: TransferPolicy | None = None,
    connections: int | None = None,
    cancel: CancelToken | None = None,
) -> DownloadResult:
    """Fetch one file, resuming and retrying; verified before it gets its final name.

    A file of 64 MiB or more from a server that serves ranges comes over `connections`
    connections at once (download/segmented.py; None: its default); 1 keeps to one. `cancel`
    (default: the client's, `http.cancel_of`) stops it: TransferCancelled, the `.part` kept.
    The pauses between attempts are `sleep` (default: the token's, ended early by a cancel).
    """
    policy = policy or client_policy(client)
    retry = retry or policy.retry
    cancel = cancel or http.cancel_of(client)
    connections = segmented.DEFAULT_CONNECTIONS if connections is None else connections
    sleep = cancel.pause if sleep is None else sleep
    if keep_existing and (done := existing_match(job)):
        return done
    job.destination.parent.mkdir(parents=True, exist_ok=True)
    transfer = _Transfer(job, policy, progress, cancel)
    last_error, restarted = "", False
    for attempt_number in range(1, retry.attempts + 1):
        cancel.check()
        try:
            attempt = _stream_once(client, transfer, connections)
        except _Retryable as exc:
            last_error, wait = str(exc), exc.wait
            connections = 1 if exc.sequential else connections
        else:
            try:
                return _finish(transfer, attempt)
            except _Retryable as exc:
                last_error, wait = str(exc), None
            except ChecksumError:
                # A resumed file may have joined two versions of the file: start over once.
                if restarted or attempt.offset == 0:
                    raise
                restarted = True
                continue
        if attempt_number < retry.attempts:
            delay = retry.delay(attempt_number)
            if wait is not None:
                delay = min(policy.retry_after_cap, max(delay, wait))
            if policy.on_retry is not None:
                notice = RetryNotice(
                    transfer.source, last_error, attempt_number, retry.attempts, delay
                )
                policy.on_retry(notice)
            sleep(delay)
    raise _failure(transfer, retry.attempts, last_error)
