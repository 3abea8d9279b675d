"""How a response body travels from the socket to the download engine: fewer trips, no copies.

httpx reads through httpcore and h11. Left as they are, every body byte is copied three times in
the thread that reads the socket: h11 appends each socket read to its buffer, slices the buffer
to test it and again to extract it, and httpcore copies what it extracted into a new `bytes`.
At loopback or LAN speed that thread, not the network, limits a download. `install()` changes
three things, each only if the library still has the internals it relies on (otherwise nothing
changes and downloads are merely slower):

1. httpcore reads 1 MiB per socket read instead of 64 KiB (its own class constant).
2. When the whole buffered body chunk goes out, h11 hands the buffer itself over instead of
   slicing copies of it.
3. A socket read that arrives while h11's buffer is empty is kept as the `bytes` object it is;
   when it goes out whole, httpcore's `bytes(...)` of it is the same object. Anything else h11
   asks of the buffer (header lines, a chunk boundary inside the read) first merges it into
   the buffer, as before, and those bytes are copied as before: the common case of a body
   read after read is the one without copies.
"""

from __future__ import annotations

from typing import Any, Final

SOCKET_READ_SIZE: Final = 1024 * 1024
_INTERNALS: Final = ("_data", "_next_line_search", "_multiple_lines_search")
_MERGING: Final = (
    "__bytes__",
    "_extract",
    "maybe_extract_next_line",
    "maybe_extract_lines",
    "is_next_line_obviously_invalid_request_line",
)


def _read_in_larger_pieces() -> None:
    import httpcore._sync.http11 as http11

    if isinstance(getattr(http11.HTTP11Connection, "READ_NUM_BYTES", None), int):
        http11.HTTP11Connection.READ_NUM_BYTES = SOCKET_READ_SIZE


def _merge(buffer: Any) -> None:
    """The kept read joins the buffer (one copy, as h11 itself would have made)."""
    kept = buffer._kept
    if kept is not None:
        buffer._kept = None
        buffer._data += kept


def _merging_first(method: Any) -> Any:
    def merged(self: Any, *args: Any) -> Any:
        _merge(self)
        return method(self, *args)

    merged.__name__ = method.__name__
    return merged


def _hand_over_body_without_copies() -> None:
    from h11._receivebuffer import ReceiveBuffer

    probe = ReceiveBuffer()
    methods = ("__iadd__", "__len__", "maybe_extract_at_most", *_MERGING)
    if not all(hasattr(probe, name) for name in (*_INTERNALS, *methods)):
        return
    if getattr(ReceiveBuffer, "_kept", "absent") is None:
        return  # installed already
    iadd = ReceiveBuffer.__iadd__

    def add(self: Any, data: bytes | bytearray) -> Any:
        if type(data) is bytes and self._kept is None and not self._data:
            self._kept = data  # kept as it came; merged only if something else is asked
            return self
        _merge(self)
        return iadd(self, data)

    def length(self: Any) -> int:
        kept = self._kept
        return len(self._data) + (len(kept) if kept is not None else 0)

    def maybe_extract_at_most(self: Any, count: int) -> bytes | bytearray | None:
        kept: bytes | None = self._kept
        if kept is not None and not self._data and count >= len(kept):
            self._kept = None
            self._next_line_search = self._multiple_lines_search = 0
            return kept
        _merge(self)
        if not self._data:
            return None
        out: bytearray = self._data
        if count < len(out):
            extracted: bytearray = ReceiveBuffer._extract(self, count)
            return extracted
        self._data = bytearray()
        self._next_line_search = self._multiple_lines_search = 0
        return out

    ReceiveBuffer._kept = None  # type: ignore[attr-defined]
    for name in _MERGING:
        setattr(ReceiveBuffer, name, _merging_first(getattr(ReceiveBuffer, name)))
    ReceiveBuffer.__len__ = length  # type: ignore[method-assign]
    ReceiveBuffer.maybe_extract_at_most = maybe_extract_at_most  # type: ignore[method-assign,assignment]
    # Last: until `add` is in place nothing is kept, so a connection reading in another thread
    # meanwhile sees h11 as it was.
    ReceiveBuffer.__iadd__ = add  # type: ignore[method-assign]


def install() -> None:
    """Apply the three changes (idempotent)."""
    _read_in_larger_pieces()
    _hand_over_body_without_copies()
