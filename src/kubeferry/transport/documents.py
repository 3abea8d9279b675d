"""Small documents over HTTP (OCI manifests, token replies, catalogs): watched, bounded, retried.

Each attempt is watched like a download (`policy.Watch`) from the moment the request is sent:
the client for documents opens a connection per request, so its socket is known at once (from
httpcore's trace) and a reply trickled in its headers or its body is cut off as a stall after
`speed_time`, or when the attempt outlives the policy's timeout. The body is read up to `limit`
bytes and no further: a larger `Content-Length` is refused before the body is read, a body that
runs past the limit is refused as it arrives. Stalls, dropped connections and 408/425/429/5xx
answers are retried with the policy's backoff (or `Retry-After`, capped), each retry announced
through `policy.on_retry`; every other answer is returned for the caller to judge.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

from kubeferry.errors import KubeferryError, UpstreamError
from kubeferry.jobs.cancel import CancelToken
from kubeferry.transport.http import cancel_of
from kubeferry.transport.policy import (
    RetryNotice,
    TransferPolicy,
    Watch,
    WatchTripped,
    client_policy,
    retry_after,
)

RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_NEW_CONNECTION: Final = ("connect_tcp.complete", "start_tls.complete")


@dataclass(frozen=True)
class Document:
    """One answer, read whole (at most the limit): who answered, status, headers, body."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    reason: str = ""


class _Retry(Exception):
    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _tracer(watch: Watch) -> Callable[[str, dict[str, Any]], None]:
    def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith(_NEW_CONNECTION) and info.get("return_value") is not None:
            watch.attach(info["return_value"])

    return trace


def _read_limited(
    response: httpx.Response, watch: Watch, limit: int, what: str, error: type[KubeferryError]
) -> bytes:
    url = str(response.url)
    length = response.headers.get("Content-Length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        raise error(
            f"{url} answered {what} of {int(length)} bytes, larger than kubeferry reads for it "
            f"(at most {limit} bytes), so it was refused and nothing of it was used. The server "
            "is misconfigured or hostile.",
            url=url,
            actual=length,
        )
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        watch.count(len(chunk))
        if len(body) > limit:
            raise error(
                f"{url} answered {what} of more than {limit} bytes (cut off there), larger "
                f"than kubeferry reads for it (at most {limit} bytes), so it was refused and "
                "nothing of it was used. The server is misconfigured or hostile.",
                url=url,
            )
    return bytes(body)


def _attempt(
    client: httpx.Client,
    method: str,
    url: str,
    request: Mapping[str, Any],
    policy: TransferPolicy,
    limit: int,
    what: str,
    error: type[KubeferryError],
    cancel: CancelToken,
) -> Document:
    watch = Watch(policy, None, time.monotonic(), cancel)
    try:
        with watch:
            extensions = {"trace": _tracer(watch)}
            with client.stream(method, url, extensions=extensions, **request) as response:
                watch.attach(response.extensions.get("network_stream"))
                if response.status_code in RETRY_STATUSES:
                    wait = retry_after(response.headers.get("Retry-After"))
                    raise _Retry(f"HTTP {response.status_code} {response.reason_phrase}", wait)
                body = _read_limited(response, watch, limit, what, error)
                watch.count(0)  # a trip during the last read counts
                return Document(
                    str(response.url),
                    response.status_code,
                    response.headers,
                    body,
                    response.reason_phrase,
                )
    except (httpx.TransportError, WatchTripped) as exc:
        cancel.check()
        if _tls_failure(exc):
            raise  # a certificate or a server that does not speak TLS: no retry helps
        if watch.reason:
            raise _Retry(watch.reason) from exc
        raise _Retry(f"{type(exc).__name__}: {exc}") from exc


def fetch_document(
    client: httpx.Client,
    url: str,
    *,
    limit: int,
    what: str,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    params: Sequence[tuple[str, str]] | None = None,
    error: type[KubeferryError] = UpstreamError,
    failed: Callable[[str, int, str], KubeferryError] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Document:
    """GET `url` (watched, at most `limit` bytes, retried); the answer, whatever its status.

    `error` is raised for an answer over the limit; `failed(url, attempts, last_error)` makes
    the error once every attempt failed (by default an `error` naming the URL and the cause).
    """
    policy = client_policy(client)
    cancel = cancel_of(client)
    sleep = sleep or cancel.pause
    retry = policy.retry
    request: dict[str, Any] = {"headers": dict(headers or {})}
    if params is not None:
        request["params"] = list(params)
    last = ""
    for number in range(1, retry.attempts + 1):
        cancel.check()
        try:
            return _attempt(client, method, url, request, policy, limit, what, error, cancel)
        except _Retry as exc:
            last, wait = str(exc), exc.wait
        if number < retry.attempts:
            delay = retry.delay(number)
            if wait is not None:
                delay = min(policy.retry_after_cap, max(delay, wait))
            if policy.on_retry is not None:
                policy.on_retry(RetryNotice(url, last, number, retry.attempts, delay))
            sleep(delay)
    if failed is not None:
        raise failed(url, retry.attempts, last)
    raise error(
        f"{url} failed {retry.attempts} times (last: {last}) while kubeferry asked for {what}. "
        "Check the network, the proxy settings (HTTPS_PROXY, NO_PROXY) and the server.",
        url=url,
    )
