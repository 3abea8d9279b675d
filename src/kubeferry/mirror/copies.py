"""Private verified copies of bundle files: the bytes the mirror sends (disk, threads).

A bundle folder may be writable by others, so the mirror never sends from it. The first request
for a file copies it, hashing the bytes copied, into a file that has no name (in the copies
folder: only this process can reach or write it, and it vanishes when the mirror stops, even
after a kill); the copy is kept only when the hash matches the manifest, and every answer is
sent from it. A file changed in place during a transfer, or a folder swapped for one with a
link, cannot change what a client receives.

Per request the bundle file is opened again from the bundle folder's descriptor, no link
followed at any step, and the fstat of that descriptor (size, mtime, inode, device, ctime) must
be the one whose bytes were copied; otherwise that descriptor is copied and checked again (one
check per file and key however many clients ask) and, if it fails, refused with a 503.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from kubeferry.errors import ChecksumError, KubeferryError, MirrorError, UnsafePathError
from kubeferry.files.safe import FileKey, anonymous_file, file_key, open_under
from kubeferry.mirror.routes import FileRoute
from kubeferry.verification.bundle import Verified, copy_verified_descriptor

LOG: Final = logging.getLogger("kubeferry.mirror")
RETRY_SECONDS: Final = 10.0  # a failure that is not the file's bytes (no space) is retried
LOG_INTERVAL: Final = 10.0  # the same refusal is logged at most once per interval


@dataclass
class Copy:
    """One verified copy; closed once it is replaced and no answer still sends from it."""

    descriptor: int
    verified: Verified
    users: int = 0
    retired: bool = False

    def lease(self) -> ServedFile | None:
        """A handle for one answer; None when the copy is already closed."""
        if self.descriptor < 0:
            return None
        self.users += 1
        return ServedFile(self)

    def release(self) -> None:
        """One answer is done with it."""
        self.users -= 1
        self._close_if_unused()

    def retire(self) -> None:
        """A newer copy replaces it: close it when the last answer is done."""
        self.retired = True
        self._close_if_unused()

    def _close_if_unused(self) -> None:
        if self.retired and self.users <= 0 and self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1


@dataclass
class ServedFile:
    """What one answer sends: a verified copy (release it when sent)."""

    copy: Copy
    released: bool = field(default=False)

    @property
    def descriptor(self) -> int:
        """The copy's descriptor: read it with explicit offsets only (pread, sendfile)."""
        return self.copy.descriptor

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return self.copy.verified.size

    @property
    def digests(self) -> dict[str, str]:
        """sha256 (and the extra digests) of the bytes in the copy."""
        return self.copy.verified.digests

    @property
    def mtime(self) -> float:
        """The bundle file's mtime when it was copied (Last-Modified)."""
        return self.copy.verified.key[1] / 1e9

    def release(self) -> None:
        """Done sending (idempotent)."""
        if not self.released:
            self.released = True
            self.copy.release()


class VerifiedCopies:
    """Route -> its verified copy; made on first use, checked per request."""

    def __init__(
        self, executor: concurrent.futures.Executor, folder: Path, roots: Mapping[Path, int]
    ) -> None:
        self._executor = executor
        self._folder = folder
        self._roots = roots
        self._copies: dict[FileRoute, Copy] = {}
        self._refused: dict[FileRoute, tuple[FileKey, KubeferryError, float]] = {}
        self._pending: dict[tuple[FileRoute, FileKey], asyncio.Future[Copy | KubeferryError]] = {}
        self._logged: dict[tuple[FileRoute, str], float] = {}

    async def open(self, route: FileRoute) -> ServedFile | KubeferryError:
        """The verified bytes of `route` for one answer, or the error that refuses it."""
        for _ in range(3):  # a copy replaced while we waited: ask again
            outcome = await self._current(route)
            if isinstance(outcome, KubeferryError):
                self._log_refusal(route, outcome)
                return outcome
            served = outcome.lease()
            if served is not None:
                return served
        return MirrorError(f"{route.relative} keeps changing; it is not served.")

    async def _current(self, route: FileRoute) -> Copy | KubeferryError:
        path = route.bundle / route.relative
        try:
            descriptor = open_under(self._roots[route.bundle], route.bundle, route.relative)
        except KubeferryError as exc:
            return exc
        except OSError as exc:
            return MirrorError(f"{path} cannot be opened ({exc.strerror}).", path=path)
        handed_over = False
        try:
            key = file_key(os.fstat(descriptor))
            known = self._copies.get(route)
            if known is not None and known.verified.key == key:
                return known
            refused = self._refused.get(route)
            if refused is not None and refused[0] == key:
                retry = not isinstance(refused[1], ChecksumError | UnsafePathError)
                if not retry or time.monotonic() - refused[2] < RETRY_SECONDS:
                    return refused[1]
            pending = self._pending.get((route, key))
            if pending is None:
                pending = asyncio.ensure_future(self._verify(route, key, descriptor))
                self._pending[(route, key)] = pending
                handed_over = True
        finally:
            if not handed_over:
                os.close(descriptor)
        return await asyncio.shield(pending)

    async def _verify(
        self, route: FileRoute, key: FileKey, descriptor: int
    ) -> Copy | KubeferryError:
        loop = asyncio.get_running_loop()
        try:
            made = await loop.run_in_executor(self._executor, self._copy, route, descriptor)
        finally:
            self._pending.pop((route, key), None)
        if isinstance(made, KubeferryError):
            self._refused[route] = (key, made, time.monotonic())
            return made
        self._refused.pop(route, None)
        previous = self._copies.get(route)
        self._copies[route] = made
        if previous is not None:
            previous.retire()
        LOG.info("verified %s", route.bundle / route.relative)
        return made

    def _copy(self, route: FileRoute, descriptor: int) -> Copy | KubeferryError:
        path = route.bundle / route.relative
        try:
            target = anonymous_file(self._folder)
        except OSError as exc:
            os.close(descriptor)
            return MirrorError(
                f"cannot make a private copy of {path} in {self._folder} ({exc.strerror}); "
                "choose a writable folder with --copies-dir.",
                path=self._folder,
            )
        try:
            verified = copy_verified_descriptor(
                descriptor,
                target,
                path,
                route.size,
                route.sha256,
                route.extra_digests,
                consequence="It is not served.",
            )
        except (KubeferryError, OSError) as exc:
            os.close(target)
            if isinstance(exc, KubeferryError):
                return exc
            return MirrorError(
                f"{path} cannot be copied to {self._folder} ({exc.strerror}); it is not served. "
                "Free some space there or choose another folder with --copies-dir.",
                path=path,
            )
        finally:
            os.close(descriptor)
        return Copy(target, verified)

    def _log_refusal(self, route: FileRoute, error: KubeferryError) -> None:
        """One line per file and kind of refusal per interval (a swap loop asks thousands of
        times a second)."""
        kind = (route, type(error).__name__)
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_INTERVAL) >= LOG_INTERVAL:
            self._logged[kind] = now
            LOG.error("refusing %s: %s", route.bundle / route.relative, error)

    def close(self) -> None:
        """Close every copy not in use (at shutdown)."""
        for copy in self._copies.values():
            copy.retire()
        self._copies.clear()


def client_reason(error: KubeferryError) -> str:
    """Why a file is refused, for the client: no server paths (those go to the log)."""
    if isinstance(error, ChecksumError):
        return "it does not match its bundle's manifest"
    if isinstance(error, UnsafePathError):
        return "it is a symbolic link or not a regular file in its bundle"
    return "it cannot be read on the mirror"
