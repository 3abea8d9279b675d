"""Attacks on `kubeferry mirror serve` over real sockets (issue 22): the tests run them small,
`benchmarks/mirror_attacks.py` at full size.

- swap: a version folder exchanged (renameat2 RENAME_EXCHANGE, in a loop in another process)
  with a sibling whose same-named file is a link to a file outside the bundle;
- in place: one byte of a large file overwritten in place (same size, mtime set back) again and
  again while clients download it;
- idle: many connections that send part of a header, or nothing, while a normal client asks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import http.client
import json
import multiprocessing
import os
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TAG = "v1.32.3+k3s1"
BIG = "k3s-airgap-images-amd64.tar.zst"
SMALL = "sha256sum-amd64.txt"
DOWNLOAD = f"/github.com/k3s-io/k3s/releases/download/{TAG}"
SECRET = b"SECRET-FROM-OUTSIDE-THE-BUNDLE\n" * 8
MB = 1024 * 1024


def attack_bundle(folder: Path, size_mb: int) -> dict[str, bytes]:
    """A bundle with one large random file and one small text file; their bytes by name."""
    version = folder / "k3s" / TAG
    version.mkdir(parents=True)
    digest = hashlib.sha256()
    with (version / BIG).open("wb") as out:
        for _ in range(size_mb):
            chunk = os.urandom(MB)
            digest.update(chunk)
            out.write(chunk)
    small = f"{'0' * 64}  k3s\n".encode()
    (version / SMALL).write_bytes(small)
    files = [
        {"path": f"k3s/{TAG}/{BIG}", "size": size_mb * MB, "sha256": digest.hexdigest()},
        {"path": f"k3s/{TAG}/{SMALL}", "size": len(small), "sha256": _sha(small)},
    ]
    manifest = {
        "kind": "kubeferry-bundle",
        "format": 1,
        "created": "2026-12-01T00:00:00Z",
        "tool": "attacks",
        "targets": {},
        "files": [{**entry, "url": ""} for entry in files],
    }
    (folder / "kubeferry-bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return {SMALL: small}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the folder swap ----------------------------------------------------------------------------


def _exchange_forever(first: str, second: str, stop: Any) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    one, two = first.encode(), second.encode()
    while not stop.is_set():
        for _ in range(100):
            if libc.renameat2(at_fdcwd, one, at_fdcwd, two, rename_exchange) != 0:
                raise OSError(ctypes.get_errno(), "renameat2 failed")


@dataclass
class SwapReport:
    """What clients received while the folders were swapped."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    verified_bodies: int = 0
    outside_bytes: int = 0  # bytes of the outside file received, any status
    other_bodies: int = 0  # 200 answers with bytes that are neither


def swap_attack(
    host: str, port: int, bundle: Path, outside: Path, requests: int, clients: int = 4
) -> SwapReport:
    """`requests` GETs of the small file while its folder is swapped with a linked sibling."""
    outside.write_bytes(SECRET)
    real = bundle / "k3s" / TAG
    sibling = bundle / "k3s" / f"{TAG}-swap"
    sibling.mkdir()
    (sibling / SMALL).symlink_to(outside)
    expected = (real / SMALL).read_bytes()
    stop = multiprocessing.Event()
    swapper = multiprocessing.Process(
        target=_exchange_forever, args=(str(real), str(sibling), stop)
    )
    swapper.start()
    report = SwapReport()
    lock = threading.Lock()

    def client(count: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        for _ in range(count):
            try:
                connection.request("GET", f"{DOWNLOAD}/{SMALL.replace('+', '%2B')}")
                answer = connection.getresponse()
                body = answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                status, body = 0, b""
            with lock:
                report.requests += 1
                report.statuses[status] += 1
                report.outside_bytes += len(body) if SECRET[:30] in body else 0
                if status == 200:
                    if body == expected:
                        report.verified_bodies += 1
                    elif SECRET[:30] not in body:
                        report.other_bodies += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(requests // clients,)) for _ in range(clients)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        swapper.join(timeout=10)
        if (bundle / "k3s" / TAG / SMALL).is_symlink():  # leave the bundle as it was
            _exchange_once(real, sibling)
    return report


def _exchange_once(first: Path, second: Path) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.renameat2(-100, str(first).encode(), -100, str(second).encode(), 2)


# --- bytes changed in place during downloads ----------------------------------------------------


@dataclass
class InPlaceReport:
    """How the downloads ended while the file was changed under them."""

    downloads: int = 0
    complete_right: int = 0
    complete_wrong: int = 0  # the failure: a whole 200/206 answer with other bytes
    refused: int = 0  # 503: the file no longer matched when the request came
    cut: int = 0  # the connection ended early (never counted as complete)
    changes: int = 0


def _flip_in_place(path: Path, offset: int) -> None:
    before = path.stat()
    with path.open("r+b") as stream:
        stream.seek(offset)
        byte = stream.read(1)
        stream.seek(offset)
        stream.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the mtime set back


def in_place_attack(
    host: str,
    port: int,
    path_in_mirror: str,
    path: Path,
    downloads: int,
    seconds_each: float,
    first_change: float,
    every: float,
    stagger: float = 0.0,
) -> InPlaceReport:
    """`downloads` downloads of `path_in_mirror` (the n-th starting n x `stagger` s in), each
    paced to last about `seconds_each`, while one byte of `path` (the bundle file) is flipped
    in place `first_change` s in, then every `every` s. Each client hashes what it receives."""
    size = path.stat().st_size
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    report = InPlaceReport(downloads=downloads)
    done = threading.Event()
    lock = threading.Lock()

    def changer() -> None:
        if done.wait(first_change):
            return
        while True:
            _flip_in_place(path, size // 2)
            report.changes += 1
            if done.wait(every):
                return

    def client(number: int) -> None:
        time.sleep(number * stagger)
        outcome = _download(host, port, path_in_mirror, size, expected, seconds_each)
        with lock:
            setattr(report, outcome, getattr(report, outcome) + 1)

    thread = threading.Thread(target=changer)
    thread.start()
    clients = [threading.Thread(target=client, args=(n,)) for n in range(downloads)]
    try:
        for each in clients:
            each.start()
        for each in clients:
            each.join()
    finally:
        done.set()
        thread.join()
        _restore(path, size // 2, report.changes)
    return report


def _download(host: str, port: int, path: str, size: int, expected: str, seconds: float) -> str:
    """One paced download; which InPlaceReport counter it adds to."""
    chunk = 256 * 1024
    pause = seconds / max(1, size // chunk)
    digest = hashlib.sha256()
    received = 0
    try:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        connection.request("GET", path)
        answer = connection.getresponse()
        if answer.status == 503:
            answer.read()
            return "refused"
        while data := answer.read(chunk):
            digest.update(data)
            received += len(data)
            time.sleep(pause)
        connection.close()
    except (OSError, http.client.HTTPException):
        return "cut"
    if answer.status not in (200, 206) or received != size:
        return "cut"
    return "complete_right" if digest.hexdigest() == expected else "complete_wrong"


def _restore(path: Path, offset: int, changes: int) -> None:
    if changes % 2:
        _flip_in_place(path, offset)


# --- idle and half-sent connections -------------------------------------------------------------


@dataclass
class IdleReport:
    """The normal client's experience while `connections` idle ones were held open."""

    connections: int = 0
    opened: int = 0
    closed_by_server: int = 0
    probes: int = 0
    probe_failures: int = 0  # both tries failed
    probe_retries: int = 0  # the first try's fresh connection was closed under the flood
    slowest_probe: float = 0.0


def idle_attack(
    host: str, port: int, connections: int, seconds: float, probe_path: str = "/"
) -> IdleReport:
    """Hold `connections` connections open (half with part of a header, half silent, reopened
    when the server closes them) for `seconds`, asking `probe_path` normally every 0.5 s."""
    report = IdleReport(connections=connections)
    held: set[socket.socket] = set()
    watch = selectors.DefaultSelector()  # epoll: select() stops at 1,024 descriptors
    stop = threading.Event()

    def open_one(number: int) -> None:
        try:
            sock = socket.create_connection((host, port), timeout=5)
        except OSError:
            return
        if number % 2:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        held.add(sock)
        watch.register(sock, selectors.EVENT_READ)
        report.opened += 1

    def ask() -> bool:
        try:
            connection = http.client.HTTPConnection(host, port, timeout=5)
            connection.request("GET", probe_path)
            answer = connection.getresponse()
            answer.read()
            connection.close()
            return answer.status == 200
        except (OSError, http.client.HTTPException):
            return False

    def probe() -> None:
        while not stop.wait(0.5):
            began = time.monotonic()
            ok = ask()
            if not ok:  # a client retries once when its brand-new connection is cut
                report.probe_retries += 1
                ok = ask()
            report.probes += 1
            report.probe_failures += 0 if ok else 1
            report.slowest_probe = max(report.slowest_probe, time.monotonic() - began)

    for number in range(connections):
        open_one(number)
    prober = threading.Thread(target=probe)
    prober.start()
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            for key, _ in watch.select(0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    gone = sock.recv(4096) == b""
                except OSError:
                    gone = True
                if gone:
                    held.discard(sock)
                    watch.unregister(sock)
                    sock.close()
                    report.closed_by_server += 1
                    open_one(len(held))
    finally:
        stop.set()
        prober.join()
        for sock in held:
            sock.close()
        watch.close()
    return report
