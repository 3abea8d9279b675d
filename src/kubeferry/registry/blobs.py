"""Put blobs into a repository the cheapest way: already there, mounted, or uploaded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

from kubeferry.jobs.parallel import run_parallel
from kubeferry.jobs.progress import ProgressFactory
from kubeferry.oci.client import BlobSource, RegistryClient

EMPTY_CONFIG_TYPE: Final = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG: Final = b"{}"
EMPTY_CONFIG_DIGEST: Final = (
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
)


@dataclass(frozen=True)
class BlobOutcome:
    """What happened to one blob: `present`, `mounted`, `uploaded` (push) or `fetched` (pull).

    `transferred` is the bytes that really crossed the wire for it: the whole blob when it was
    uploaded, the body bytes of every attempt when it was fetched (less than `size` on a resume).
    """

    digest: str
    size: int
    how: str
    label: str = ""
    transferred: int = 0

    def as_dict(self) -> dict[str, object]:
        """For --json."""
        return {
            "digest": self.digest,
            "size": self.size,
            "how": self.how,
            "label": self.label,
            "transferred_bytes": self.transferred,
        }


def ensure_blob(
    client: RegistryClient,
    repository: str,
    source: Callable[[], BlobSource],
    digest: str,
    size: int,
    *,
    label: str,
    mount_from: Sequence[str] = (),
    progress: ProgressFactory = lambda label: None,
) -> BlobOutcome:
    """HEAD the blob; else mount it from another repository; else upload it, streamed."""
    if client.blob_exists(repository, digest):
        return BlobOutcome(digest, size, "present", label)
    for other in mount_from:
        if other != repository and client.mount_blob(repository, digest, other):
            return BlobOutcome(digest, size, "mounted", label)
    client.upload_blob(repository, source(), progress=progress(label))
    return BlobOutcome(digest, size, "uploaded", label, transferred=size)


def ensure_blobs(
    client: RegistryClient,
    repository: str,
    blobs: Sequence[tuple[str, int, str, Callable[[], BlobSource]]],
    *,
    mount_from: Sequence[str] = (),
    progress: ProgressFactory = lambda label: None,
    workers: int = 4,
) -> list[BlobOutcome]:
    """`ensure_blob` for (digest, size, label, source) tuples in a bounded pool; input order."""
    unique = list(
        {digest: (digest, size, label, make) for digest, size, label, make in blobs}.values()
    )
    return run_parallel(
        [
            partial(
                ensure_blob,
                client,
                repository,
                b[3],
                b[0],
                b[1],
                label=b[2],
                mount_from=mount_from,
                progress=progress,
            )
            for b in unique
        ],
        workers=workers,
        cancel=client.cancel,
    )


def empty_config_source() -> BlobSource:
    """The 2-byte `{}` config blob (Distribution requires it uploaded, not only inlined)."""
    return BlobSource(EMPTY_CONFIG_DIGEST, len(EMPTY_CONFIG), chunks=[EMPTY_CONFIG])


def summarize(outcomes: Sequence[BlobOutcome]) -> dict[str, int]:
    """Counts, and the bytes that crossed the wire (sent by a push, fetched by a pull)."""
    counts = {how: 0 for how in ("uploaded", "mounted", "present")}
    for outcome in outcomes:
        counts[outcome.how] = counts.get(outcome.how, 0) + 1
    counts["transferred_bytes"] = sum(o.transferred for o in outcomes)
    return counts
