"""Keep freed body buffers in the process instead of handing them back to the kernel.

A download moves its bytes in buffers of about 1 MiB (one socket read each), freed once written
and hashed. glibc gives such memory back to the kernel when it is freed (mostly by trimming the
top of a thread's heap), so the next read faults fresh zeroed pages in again: about 30,000 page
faults for 160 MB, a tenth of a loopback download's time on two cores (benchmarks/RESULTS.md).
On the first download, `mallopt` sets the size glibc maps on its own (M_MMAP_THRESHOLD) to
8 MiB and the free memory a heap may keep at its top (M_TRIM_THRESHOLD) to 16 MiB, so the
buffers are reused.

The setting is for the whole process and turns off glibc's own adjustment of both thresholds:
each heap (threads may have their own) can keep up to 16 MiB freed and not given back until the
process ends. Measured: a 2 GB download peaks at about 40 MB resident with or without it. On
another C library (musl answers 0), or if the call fails, nothing changes.
"""

from __future__ import annotations

import functools
from typing import Final

from kubeferry.download import libc

M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD: Final = 8 * 1024 * 1024
TRIM_THRESHOLD: Final = 16 * 1024 * 1024


@functools.cache  # once per process, on the first download
def keep_freed_buffers() -> bool:
    """Tune glibc's allocator for streaming; True when it took effect."""
    mallopt = libc.function("mallopt", "c_int", "c_int")
    if mallopt is None:
        return False
    # mallopt answers 1 on success; musl has the name but answers 0 and changes nothing.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
