"""Resumable, verified, parallel downloads into a destination folder.

A file streams into `.<name>.part` beside its destination (never the system temp folder: a rename
across disks fails), hashed while it streams. An interrupted download resumes with `Range` and
`If-Range`; a 200 answer (Range ignored, or the validator changed) starts over. 429, 5xx and
dropped connections are retried with bounded exponential backoff; a 404 is not. The final name
appears only after the digest matched (`os.replace`); a mismatch deletes the bad bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import httpx

from kubeferry.errors import ChecksumError, NotFoundError, UpstreamError
from kubeferry.net import http, segmented
from kubeferry.net.hashes import HashingWriter, feed_file, hash_file, new_hashers

Progress = Callable[[int, int | None], None]
"""Called with the bytes of the file on disk so far (resumed ones included) and the total."""
ProgressFactory = Callable[[str], Progress | None]
"""Makes the reporter for one file from its label (None: no progress shown)."""

T = TypeVar("T")
PART_SUFFIX: Final = ".part"
META_SUFFIX: Final = ".part.json"
RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff."""

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * 2 ** (attempt - 1)))


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
    """What one download did."""

    job: DownloadJob
    size: int
    fetched: int
    resumed_from: int
    sha256: str
    skipped: bool = False


@dataclass
class _Attempt:
    offset: int = 0
    fetched: int = 0
    hashers: dict[str, hashlib._Hash] = field(default_factory=dict)


class _Retryable(Exception):
    """A failure worth another attempt (the partial file is kept)."""


def part_path(destination: Path) -> Path:
    """`.<name>.part` beside the destination.

    The leading dot matters: kuberlr takes any `kubectl1.30.6*` in its folder for kubectl
    1.30.6, so `kubectl1.30.6.part` would be run half-downloaded.
    """
    return destination.with_name(f".{destination.name}{PART_SUFFIX}")


def _meta_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}{META_SUFFIX}")


def _read_validator(destination: Path, url: str) -> str | None:
    try:
        meta = json.loads(_meta_path(destination).read_text())
    except (OSError, ValueError):
        return None
    return meta.get("validator") if meta.get("url") == url else None


def _write_validator(destination: Path, url: str, response: httpx.Response) -> None:
    validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
    if validator and not validator.startswith("W/"):
        _meta_path(destination).write_text(json.dumps({"url": url, "validator": validator}))
    else:
        _meta_path(destination).unlink(missing_ok=True)


def discard_partial(destination: Path) -> None:
    """Delete the `.part` file and its validator."""
    part_path(destination).unlink(missing_ok=True)
    _meta_path(destination).unlink(missing_ok=True)


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
        validator = _read_validator(job.destination, job.url)
        if validator:
            headers["If-Range"] = validator
    return headers


def _check_status(response: httpx.Response, job: DownloadJob) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    if status == 404:
        raise NotFoundError(
            f"{job.url} answered 404 Not Found: the file does not exist there. Check the version "
            "and the mirror address.",
            url=job.url,
        )
    if status in RETRY_STATUSES:
        raise _Retryable(f"HTTP {status}")
    response.read()
    raise http.status_error(response, "Check the URL and the mirror; nothing was saved.")


# --- the segmented hook (net/segmented.py): one large file over several connections ----------


def _segments(
    client: httpx.Client,
    job: DownloadJob,
    progress: Progress | None,
    connections: int,
    response: httpx.Response | None,
) -> _Attempt | None:
    """Resume a segmented download, or start one for a fresh large 200 answer; else None."""
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
            )
        else:
            size, validator = (
                int(response.headers["Content-Length"]),
                segmented.validator_of(response),
            )
            done = segmented.fetch(
                client,
                job.url,
                part,
                size=size,
                validator=validator,
                algorithms=algorithms,
                connections=connections,
                progress=progress,
                response=response,  # it keeps streaming; helpers join only when it is slow
            )
    except segmented.SegmentsRestart as exc:
        raise _Retryable(str(exc)) from exc
    return None if done is None else _Attempt(0, done.fetched, done.hashers)


# --- one sequential attempt -------------------------------------------------------------------


def _stream_once(
    client: httpx.Client, job: DownloadJob, progress: Progress | None, connections: int = 1
) -> _Attempt:
    part = part_path(job.destination)
    # A part written in pieces resumes in pieces, whatever `connections` says now.
    if resumed := _segments(client, job, progress, connections, None):
        return resumed
    offset = part.stat().st_size if part.exists() else 0
    attempt = _Attempt(offset=offset)
    try:
        with client.stream("GET", job.url, headers=_request_headers(job, offset)) as response:
            if response.status_code == 416:
                discard_partial(job.destination)
                raise _Retryable("HTTP 416: the partial file did not fit the server's file")
            _check_status(response, job)
            whole = None
            if not offset and segmented.wanted(response, connections):
                whole = _segments(client, job, progress, connections, response)
            if whole is not None:
                return whole
            if response.status_code == 200 or not offset:
                offset = attempt.offset = 0
            elif not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                discard_partial(job.destination)
                raise _Retryable("the server answered a different range")
            _write_validator(job.destination, job.url, response)
            attempt.hashers = _start_hashers(job, part, offset)
            length = response.headers.get("Content-Length", "")
            total = offset + int(length) if length.isdigit() else job.size
            if progress:
                progress(offset, total)
            mode = "ab" if offset else "wb"
            with HashingWriter(part, mode, attempt.hashers) as sink:
                # No re-chunking in httpx: bytes it buffers would be lost when the peer drops.
                for chunk in response.iter_raw():
                    sink.feed(chunk)
                    attempt.fetched += len(chunk)
                    if progress:
                        progress(offset + attempt.fetched, total)
    except httpx.HTTPError as exc:
        if isinstance(exc, httpx.TimeoutException | httpx.TransportError):
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        raise http.transport_error(exc, job.url) from exc
    return attempt


def _finish(job: DownloadJob, attempt: _Attempt) -> DownloadResult:
    part = part_path(job.destination)
    digests = {name: hasher.hexdigest() for name, hasher in attempt.hashers.items()}
    for name, expected in job.expected.items():
        if digests[name] != expected:
            discard_partial(job.destination)
            raise ChecksumError(
                f"{job.url} has {name} {digests[name]}, expected {expected}; the bad bytes were "
                "deleted. The mirror or the sums file is wrong or the transfer was corrupted: "
                "try again, or check the mirror.",
                url=job.url,
                expected=expected,
                actual=digests[name],
            )
    size = part.stat().st_size
    part.replace(job.destination)
    _meta_path(job.destination).unlink(missing_ok=True)
    return DownloadResult(job, size, attempt.fetched, attempt.offset, digests["sha256"])


def existing_match(job: DownloadJob) -> DownloadResult | None:
    """A result for a destination already present with the expected digests, else None."""
    if not job.expected or not job.destination.is_file():
        return None
    digests = hash_file(job.destination, ("sha256", *job.expected))
    if any(digests[name] != value for name, value in job.expected.items()):
        return None
    size = job.destination.stat().st_size
    return DownloadResult(job, size, 0, 0, digests["sha256"], skipped=True)


def download(
    client: httpx.Client,
    job: DownloadJob,
    *,
    progress: Progress | None = None,
    retry: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    keep_existing: bool = False,
    connections: int = segmented.DEFAULT_CONNECTIONS,
) -> DownloadResult:
    """Fetch one file, resuming and retrying; verified before it gets its final name.

    A file of 64 MiB or more from a server that serves ranges comes over `connections`
    connections at once (net/segmented.py); 1 keeps to one.
    """
    if keep_existing and (done := existing_match(job)):
        return done
    job.destination.parent.mkdir(parents=True, exist_ok=True)
    last_error = ""
    restarted = False
    for attempt_number in range(1, retry.attempts + 1):
        try:
            attempt = _stream_once(client, job, progress, connections)
        except _Retryable as exc:
            last_error = str(exc)
        else:
            try:
                return _finish(job, attempt)
            except ChecksumError:
                # A resumed file may have joined two versions of the file: start over once.
                if restarted or attempt.offset == 0:
                    raise
                restarted = True
                continue
        if attempt_number < retry.attempts:
            sleep(retry.delay(attempt_number))
    kept = part_path(job.destination)
    raise UpstreamError(
        f"{job.url} failed {retry.attempts} times (last: {last_error}). The partial file "
        f"{kept} was kept: run the same command again to resume.",
        url=job.url,
    )


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
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks)))) as pool:
        futures = [pool.submit(task) for task in tasks]
        errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error
    return [future.result() for future in futures]


def download_all(
    client: httpx.Client,
    jobs: Sequence[DownloadJob],
    *,
    progress_for: Callable[[DownloadJob], Progress | None] = lambda job: None,
    workers: int = 4,
    retry: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    keep_existing: bool = False,
    connections: int = segmented.DEFAULT_CONNECTIONS,
) -> list[DownloadResult]:
    """Fetch several files in a bounded pool; results in input order; the first error raised."""

    def task(job: DownloadJob) -> Callable[[], DownloadResult]:
        return lambda: download(
            client,
            job,
            progress=progress_for(job),
            retry=retry,
            sleep=sleep,
            keep_existing=keep_existing,
            connections=connections,
        )

    return run_parallel([task(job) for job in jobs], workers=workers)
