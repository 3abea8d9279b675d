"""transport/body_speed.py: h11 parses every response the same, with fewer copies.

Each response is fed to a real h11 client connection in pieces of random sizes (headers and
body in one read, a body split anywhere, chunk boundaries inside a read, two responses in one
read on a kept-alive connection); the body must come out byte for byte, and a body read that
arrives whole must come out as the very same object (no copy).
"""

from __future__ import annotations

import random

import h11
import pytest

import kubeferry.transport.http  # noqa: F401  (installs body_speed)
from kubeferry.transport import body_speed


def _request(connection: h11.Connection) -> None:
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())


def _pieces(data: bytes, rng: random.Random) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        size = rng.choice([1, 2, 7, 64, 1000, 65536, len(data)])
        out.append(data[at : at + size])
        at += size
    return out


def _read(connection: h11.Connection, pieces: list[bytes]) -> list[object]:
    events: list[object] = []
    for piece in pieces:
        connection.receive_data(piece)
        while (event := connection.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
            events.append(event)
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    return events


def _body(events: list[object]) -> bytes:
    return b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data))


def _content_length(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def _chunked(body: bytes, rng: random.Random) -> bytes:
    out, at = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"], 0
    while at < len(body):
        size = rng.randint(1, 5000)
        part = body[at : at + size]
        out.append(b"%x\r\n" % len(part) + part + b"\r\n")
        at += size
    out.append(b"0\r\n\r\n")
    return b"".join(out)


@pytest.mark.parametrize("seed", range(40))
def test_bodies_come_out_byte_for_byte_whatever_the_reads(seed: int) -> None:
    rng = random.Random(seed)
    body = rng.randbytes(rng.choice([0, 1, 100, 70_000, 300_000]))
    for wire in (_content_length(body), _chunked(body, rng)):
        connection = h11.Connection(h11.CLIENT)
        _request(connection)
        events = _read(connection, _pieces(wire, rng))
        assert isinstance(events[0], h11.Response) and events[0].status_code == 200
        assert isinstance(events[-1], h11.EndOfMessage)
        assert _body(events) == body


def test_a_body_until_close_and_two_responses_in_one_read() -> None:
    rng = random.Random(7)
    first, second = rng.randbytes(5000), rng.randbytes(3000)
    connection = h11.Connection(h11.CLIENT)
    _request(connection)
    both = _content_length(first) + _content_length(second)
    events = _read(connection, [both[:100], both[100:]])  # the tail of one and the next, at once
    assert _body(events) == first
    connection.start_next_cycle()
    _request(connection)
    events = []  # the second response is already in h11's buffer: no read needed
    while (event := connection.next_event()) is not h11.NEED_DATA:
        events.append(event)
        if isinstance(event, h11.EndOfMessage):
            break
    assert _body(events) == second

    closing = h11.Connection(h11.CLIENT)
    closing.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    closing.send(h11.EndOfMessage())
    closing.receive_data(b"HTTP/1.0 200 OK\r\n\r\n")
    assert isinstance(closing.next_event(), h11.Response)
    closing.receive_data(second)
    closing.receive_data(b"")
    events = [closing.next_event(), closing.next_event()]
    assert bytes(events[0].data) == second and isinstance(events[1], h11.EndOfMessage)


def test_a_whole_body_read_is_handed_on_without_a_copy() -> None:
    body = random.Random(3).randbytes(200_000)
    connection = h11.Connection(h11.CLIENT)
    _request(connection)
    connection.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 * len(body)))
    assert isinstance(connection.next_event(), h11.Response)
    for _ in range(2):
        read = bytes(body)  # as a socket read arrives: a fresh bytes object
        connection.receive_data(read)
        event = connection.next_event()
        assert isinstance(event, h11.Data)
        assert event.data is read, "the socket read was copied on its way out"
    assert isinstance(connection.next_event(), h11.EndOfMessage)


def test_installing_twice_changes_nothing() -> None:
    from h11._receivebuffer import ReceiveBuffer

    before = ReceiveBuffer.maybe_extract_at_most
    body_speed.install()
    assert ReceiveBuffer.maybe_extract_at_most is before
