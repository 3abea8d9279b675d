"""Fetching the k3s channel list and the paged GitHub releases list."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from kubeferry.catalog.rules import Catalog, convert_upstream
from kubeferry.core.endpoints import Endpoints
from kubeferry.core.versions import K3sTag, KubeVersion
from kubeferry.errors import RateLimitError, UpstreamError
from kubeferry.transport import http

MAX_RATE_LIMIT_WAIT: Final = 60.0
MAX_RATE_LIMIT_RETRIES: Final = 3
MAX_PAGES: Final = 200
PER_PAGE: Final = 100
_RETRY_HINT: Final = "The existing catalog was left untouched; try again later or use a mirror."


@dataclass
class Upstream:
    """A client for update.k3s.io and the GitHub releases API (or their mirrors)."""

    client: httpx.Client
    endpoints: Endpoints
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def fetch_channels(self) -> Mapping[str, Any]:
        """The channel collection as JSON."""
        url = self.endpoints.channels_url
        response = http.get(self.client, url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise http.status_error(response, _RETRY_HINT)
        document = http.decode_json(response, _RETRY_HINT)
        if not isinstance(document, dict):
            raise UpstreamError(
                f"{url} answered JSON that is not an object. {_RETRY_HINT}", url=url
            )
        return document

    def fetch_releases(self) -> list[Mapping[str, Any]]:
        """Every release entry, following `Link: rel="next"` through all pages."""
        url: str | None = with_per_page(self.endpoints.releases_url, PER_PAGE)
        seen: set[str] = set()
        releases: list[Mapping[str, Any]] = []
        while url and url not in seen and len(seen) < MAX_PAGES:
            seen.add(url)
            response = self._get_page(url)
            page = http.decode_json(response, _RETRY_HINT)
            if not isinstance(page, list):
                raise UpstreamError(
                    f"{url} answered JSON that is not a list of releases. {_RETRY_HINT}", url=url
                )
            releases.extend(entry for entry in page if isinstance(entry, Mapping))
            url = next_link(response.headers.get("Link", ""), base=url)
        return releases

    def _headers_for(self, url: str) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        # The token goes to the releases API host only, never to a host a page link points to.
        if self.endpoints.github_token and http.same_host(url, self.endpoints.releases_url):
            headers["Authorization"] = f"Bearer {self.endpoints.github_token}"
        return headers

    def _get_page(self, url: str) -> httpx.Response:
        for _ in range(MAX_RATE_LIMIT_RETRIES + 1):
            response = http.get(self.client, url, headers=self._headers_for(url))
            wait = rate_limit_wait(response, now=self.clock())
            if wait is None:
                if response.status_code != 200:
                    raise http.status_error(response, _RETRY_HINT)
                return response
            if wait > MAX_RATE_LIMIT_WAIT:
                raise rate_limit_error(response, url, wait, self.clock())
            self.sleep(wait)
        raise rate_limit_error(response, url, 0.0, self.clock())


def rate_limit_wait(response: httpx.Response, *, now: float) -> float | None:
    """Seconds to wait before retrying a rate-limited answer; None when it is not one."""
    if response.status_code not in (403, 429):
        return None
    retry_after = response.headers.get("Retry-After")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    if response.headers.get("X-RateLimit-Remaining") != "0":
        return None
    reset = response.headers.get("X-RateLimit-Reset", "")
    if not reset.strip().isdigit():
        return MAX_RATE_LIMIT_WAIT + 1
    return max(0.0, float(reset) - now) + 1.0


def rate_limit_error(response: httpx.Response, url: str, wait: float, now: float) -> RateLimitError:
    """The rate limit will not reset soon enough to wait for it."""
    reset_at = datetime.fromtimestamp(now + wait, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return RateLimitError(
        f"GitHub's API rate limit is used up for {url} (HTTP {response.status_code}); it resets "
        f"at {reset_at}, in {int(wait)} s. Set GITHUB_TOKEN to a GitHub token for a much higher "
        "limit, or try again after the reset. The existing catalog was left untouched.",
        url=url,
    )


def with_per_page(url: str, per_page: int) -> str:
    """`url` with `per_page` set unless it already has one."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key == "per_page" for key, _ in query):
        query.append(("per_page", str(per_page)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def next_link(header: str, *, base: str) -> str | None:
    """The `rel="next"` target of a Link header, made absolute against `base`."""
    for part in header.split(","):
        if "<" not in part or ">" not in part:
            continue
        target, _, params = part.strip().partition(">")
        rels = [p.strip() for p in params.split(";") if p.strip().startswith("rel=")]
        if any(rel.split("=", 1)[1].strip('"') == "next" for rel in rels):
            return str(httpx.URL(base).join(target.lstrip("<").strip()))
    return None


def fetch_catalog(
    client: httpx.Client, endpoints: Endpoints, minimum: KubeVersion, prefer: Sequence[K3sTag] = ()
) -> Catalog:
    """Channels + releases from upstream (or the mirrors), converted; never empty."""
    upstream = Upstream(client, endpoints)
    channels = upstream.fetch_channels()
    releases = upstream.fetch_releases()
    fresh = convert_upstream(
        channels,
        releases,
        minimum=minimum,
        channels_source=endpoints.channels_url,
        prefer=list(prefer),
    )
    if not fresh.versions:
        raise UpstreamError(
            f"{endpoints.releases_url} listed no k3s release at or above {minimum}; the existing "
            "catalog was left untouched. Check the URL or --min-version.",
            url=endpoints.releases_url,
        )
    return fresh
