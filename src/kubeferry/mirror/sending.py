"""Answer a request with a verified file: conditionals, Range (RFC 9110), then its bytes (network).

`file_response(request, served, content_type)` is the one way the mirror answers with file
bytes (the upstream layouts today, registry blobs later). `served` is an open verified copy
(`copies.ServedFile`); the bytes are sent from its descriptor with explicit offsets, never by
opening a path: `sendfile` (zero-copy) on plain HTTP, a read loop on TLS. A client that takes
no bytes for SEND_TIMEOUT seconds is cut off. The access log counts the body bytes handed to
the connection (`bytes_sent`), not the headers.

Range: one `bytes=` range is answered 206; a range that starts past the end, or `bytes=-0`,
416 with `Content-Range: bytes */size`; several ranges, an invalid one or another unit get 200
with the whole file (RFC 9110 allows a server to ignore them). `If-Range` with an ETag other
than the file's (or a weak one), or a date other than its Last-Modified, gives 200 with the
whole file. `If-Match`/`If-Unmodified-Since` give 412, `If-None-Match`/`If-Modified-Since` 304,
in RFC 9110's order.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
from datetime import datetime
from typing import IO, Final, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.web_request import BaseRequest

from kubeferry.mirror.copies import ServedFile

SEND_TIMEOUT: Final = 60.0  # seconds a client may take no bytes at all before it is cut off
SEND_CHUNK: Final = 1024 * 1024  # each chunk has SEND_TIMEOUT to leave: at least ~17 KB/s
UNSATISFIABLE: Final = (-1, -1)
_RANGE: Final = re.compile(r"([0-9]*)-([0-9]*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) to send (end exclusive), None for the whole file, UNSATISFIABLE for 416."""
    if not header:
        return None
    unit, equals, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not equals or "," in spec:
        return None  # another unit, or several ranges: the whole file
    matched = _RANGE.fullmatch(spec.strip())
    if matched is None:
        return None
    first, last = matched.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        return (max(0, size - suffix), size) if suffix and size else UNSATISFIABLE
    start = int(first)
    if last and int(last) < start:
        return None  # last < first: invalid, ignored
    end = int(last) + 1 if last else size
    return (start, min(end, size)) if start < size else UNSATISFIABLE


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _date(header: str | None) -> datetime | None:
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None


def _precondition(request: BaseRequest, etag: str, mtime: int) -> int | None:
    """412 or 304 when a conditional header says so (RFC 9110 13.2.2), else None."""
    headers = request.headers
    if (match := headers.get("If-Match")) is not None:
        if not any(tag in ("*", etag) for tag in _tags(match)):
            return 412
    elif (since := _date(headers.get("If-Unmodified-Since"))) and mtime > since.timestamp():
        return 412
    if (none_match := headers.get("If-None-Match")) is not None:
        weak = etag.removeprefix("W/")
        if any(tag == "*" or tag.removeprefix("W/") == weak for tag in _tags(none_match)):
            return 304
    elif (modified := _date(headers.get("If-Modified-Since"))) and mtime <= modified.timestamp():
        return 304
    return None


def _if_range_holds(request: BaseRequest, etag: str, mtime: int) -> bool:
    """If-Range: a strong ETag equal to the file's, or exactly its Last-Modified date."""
    value = request.headers.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    date = _date(value)
    return date is not None and int(date.timestamp()) == mtime


def file_response(
    request: BaseRequest, served: ServedFile, content_type: str
) -> web.StreamResponse:
    """The answer to GET or HEAD for a verified file (releases `served` once sent)."""
    etag = f'"{served.digests["sha256"]}"'
    mtime = int(served.mtime)
    headers = {
        "ETag": etag,
        "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
        "Accept-Ranges": "bytes",
    }
    status = _precondition(request, etag, mtime)
    if status is not None:
        served.release()
        return web.Response(status=status, headers=headers)
    size = served.size
    wanted = None
    if request.method == "GET" and _if_range_holds(request, etag, mtime):
        wanted = byte_range(request.headers.get("Range"), size)
    if wanted == UNSATISFIABLE:
        served.release()
        headers["Content-Range"] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    start, end = wanted or (0, size)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Type"] = content_type
    return VerifiedFileResponse(served, start, end - start, 206 if wanted else 200, headers)


class VerifiedFileResponse(web.StreamResponse):
    """Headers, then `count` bytes of the verified copy from `start`; `bytes_sent` counts them."""

    def __init__(
        self, served: ServedFile, start: int, count: int, status: int, headers: dict[str, str]
    ) -> None:
        super().__init__(status=status, headers=headers)
        self.content_length = count
        self._served = served
        self._first = start
        self._length = count
        self.bytes_sent = 0

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        """Send the answer whole; ConnectionResetError when the client is gone or stalls."""
        if self.prepared:
            return await super().prepare(request)
        try:
            writer = await super().prepare(request)
            if request.method != "HEAD" and self._length:
                await self._send(request)
            return writer
        finally:
            self._served.release()

    async def _send(self, request: BaseRequest) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        plain = transport.get_extra_info("sslcontext") is None
        offset, end = self._first, self._first + self._length
        loop = asyncio.get_running_loop()
        descriptor = cast(IO[bytes], _Descriptor(self._served.descriptor))
        try:
            while offset < end:
                size = min(SEND_CHUNK, end - offset)
                async with asyncio.timeout(SEND_TIMEOUT):
                    if plain:
                        sent = await loop.sendfile(
                            transport, descriptor, offset, size, fallback=False
                        )
                    else:
                        data = await loop.run_in_executor(
                            None, os.pread, self._served.descriptor, size, offset
                        )
                        if not data:
                            break
                        await self.write(data)
                        sent = len(data)
                offset += sent
                self.bytes_sent += sent
        except (
            TimeoutError,
            RuntimeError,
            OSError,
            asyncio.exceptions.SendfileNotAvailableError,
        ) as exc:
            transport.abort()  # a stalled or broken connection: nothing more can be sent on it
            raise ConnectionResetError(f"sending stopped after {self.bytes_sent} bytes") from exc
        if offset < end:
            transport.abort()  # the copy was shorter than verified: never a short 200
            raise ConnectionResetError("the verified copy ended early")


class _Descriptor:
    """The copy's descriptor for `loop.sendfile`, which reads it with explicit offsets only."""

    mode = "rb"

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        """The descriptor."""
        return self.fd

    def seek(self, offset: int, whence: int = 0) -> int:
        """Positions are never used: every read names its offset."""
        return offset
