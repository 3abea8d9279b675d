"""The mirror's generated bodies, in the shapes upstream answers with (pure).

The channel collection is rancher/apiserver's (`type`, `links`, `actions`, `resourceType`,
`data[]` with `id`, `type: "channel"`, `links.self`, `name`, `latest`); the releases list is
GitHub's (`tag_name`, `draft`, `prerelease`, `assets[].name`, `browser_download_url`, `digest`),
newest first, paged with a `Link` header as GitHub pages it (`per_page` 30 by default, 100 at most).
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from kubeferry.catalog.rules import sort_channel_names
from kubeferry.core.versions import K3sTag, parse_k3s_tag

DEFAULT_PER_PAGE: Final = 30
MAX_PER_PAGE: Final = 100
CHANNELS: Final = "update.k3s.io/v1-release/channels"
RELEASES: Final = "api.github.com/repos/k3s-io/k3s/releases"
GITHUB_RELEASES: Final = "github.com/k3s-io/k3s/releases"


@dataclass(frozen=True)
class ClientSetting:
    """One line a client needs to use the mirror."""

    line: str
    note: str

    def as_dict(self) -> dict[str, str]:
        """For --json."""
        return {"line": self.line, "note": self.note}


def client_settings(base: str) -> tuple[ClientSetting, ...]:
    """How each client is pointed at a mirror at `base`."""
    base = base.rstrip("/")
    return (
        ClientSetting(f"KUBEFERRY_MIRROR={base}", "kubeferry: all five endpoints"),
        ClientSetting(
            f"KubeMirrorUrl = {base}/dl.k8s.io",
            f"kuberlr.conf; or KUBERLR_KUBEMIRRORURL={base}/dl.k8s.io (kuberlr, kubeferry wrapper)",
        ),
        ClientSetting(f"GITHUB_URL={base}/{GITHUB_RELEASES}", "k3s install script"),
        ClientSetting(f"INSTALL_K3S_CHANNEL_URL={base}/{CHANNELS}", "k3s install script"),
    )


def json_body(document: Any) -> bytes:
    """JSON as served: indented like upstream's pretty answers, with a trailing newline."""
    return (json.dumps(document, indent=2) + "\n").encode()


def channels_document(base: str, channels: Mapping[str, K3sTag]) -> dict[str, Any]:
    """The channel collection, its links pointing at the mirror."""
    url = f"{base}/{CHANNELS}"
    data = [
        {
            "id": name,
            "type": "channel",
            "links": {"self": f"{url}/{name}"},
            "name": name,
            "latest": str(channels[name]),
        }
        for name in sort_channel_names(channels)
    ]
    return {
        "type": "collection",
        "links": {"self": url},
        "actions": {},
        "resourceType": "channels",
        "data": data,
    }


def _release_id(tag: str) -> int:
    """A stable number per tag (clients only need it to be unique)."""
    return int.from_bytes(hashlib.sha256(tag.encode()).digest()[:6], "big")


def releases(
    base: str, assets: Mapping[str, Mapping[str, tuple[int, str]]], created: str
) -> tuple[dict[str, Any], ...]:
    """The releases list for `assets` (tag -> asset -> (size, sha256)), newest first."""

    def order(tag: str) -> Any:
        parsed = parse_k3s_tag(tag)
        return parsed.sort_key() if parsed else ()

    entries = []
    for tag in sorted(assets, key=order, reverse=True):
        parsed = parse_k3s_tag(tag)
        download = f"{base}/{GITHUB_RELEASES}/download/{quote(tag, safe='')}"
        entries.append(
            {
                "url": f"{base}/{RELEASES}/{_release_id(tag)}",
                "html_url": f"{base}/{GITHUB_RELEASES}/tag/{quote(tag, safe='')}",
                "id": _release_id(tag),
                "tag_name": tag,
                "name": tag,
                "draft": False,
                "prerelease": bool(parsed and parsed.is_prerelease),
                "created_at": created,
                "published_at": created,
                "assets": [
                    {
                        "name": name,
                        "size": size,
                        "digest": f"sha256:{sha256}",
                        "content_type": "application/octet-stream",
                        "state": "uploaded",
                        "browser_download_url": f"{download}/{name}",
                    }
                    for name, (size, sha256) in sorted(assets[tag].items())
                ],
            }
        )
    return tuple(entries)


def page_numbers(query: Mapping[str, str]) -> tuple[int, int]:
    """(page, per_page) from a query as GitHub reads it: bad values fall back to the defaults."""

    def number(key: str, default: int) -> int:
        text = query.get(key, "")
        return int(text) if text.isdigit() and int(text) > 0 else default

    return number("page", 1), min(number("per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)


def releases_page(
    entries: Sequence[Mapping[str, Any]], url: str, page: int, per_page: int
) -> tuple[bytes, str | None]:
    """(body, Link header or None) of one page of the releases list at `url`."""
    start = (page - 1) * per_page
    body = json_body(list(entries[start : start + per_page]))
    last = max(1, -(-len(entries) // per_page))
    links = []
    if page < last:
        links.append(f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"')
        links.append(f'<{url}?per_page={per_page}&page={last}>; rel="last"')
    if page > 1:
        links.append(f'<{url}?per_page={per_page}&page={min(page - 1, last)}>; rel="prev"')
        links.append(f'<{url}?per_page={per_page}&page=1>; rel="first"')
    return body, ", ".join(links) or None


def tag_page(tag: str) -> bytes:
    """What a channel redirect lands on (clients read only its address)."""
    text = html.escape(tag)
    return (
        f"<!doctype html><title>k3s {text}</title><p>k3s release {text}, served by a kubeferry "
        "mirror: the files are under <code>../download/" + text + "/</code>.</p>\n"
    ).encode()


def node_lines(base: str, tag: K3sTag | None, assets: Sequence[str]) -> tuple[str, ...]:
    """How a plain k3s node installs from the mirror at `base` (empty without an install.sh)."""
    if tag is None:
        return ()
    quoted = quote(str(tag), safe="")
    images = [
        f"{base}/{GITHUB_RELEASES}/download/{quoted}/{name}"
        for name in assets
        if name.startswith("k3s-airgap-images-")
    ]
    lines = [
        f"curl -sfL {base}/get.k3s.io/ | GITHUB_URL={base}/{GITHUB_RELEASES} "
        f"INSTALL_K3S_CHANNEL_URL={base}/{CHANNELS} sh -",
        f"    # k3s {tag}'s own install.sh (others: {base}/raw.githubusercontent.com/k3s-io/"
        "k3s/TAG/install.sh); it fetches the binary from here and checks its sha256",
        "# a node that cannot pull images: before k3s starts, put the airgap archive into",
        "# /var/lib/rancher/k3s/agent/images/ (k3s imports every archive there):",
    ]
    lines += [
        f"curl -sfL -o /var/lib/rancher/k3s/agent/images/{url.rsplit('/', 1)[1]} {url}"
        for url in images
    ]
    lines.append(f"# or all of it, verified, in one step: kubeferry node install {base}")
    return tuple(lines)


def index_page(
    base: str,
    files: Sequence[tuple[str, int, str]],
    channels: Mapping[str, K3sTag],
    bundles: Sequence[tuple[str, str, str]],
    *,
    node: Sequence[str] = (),
) -> bytes:
    """The `/` page: what is served, with digests, and how to point each client here. Bundles
    are named by (manifest sha256, creation date, contents), never by the server's folders."""
    esc = html.escape
    settings = "\n".join(f"{esc(s.line)}    # {esc(s.note)}" for s in client_settings(base))
    rows = "\n".join(
        f'<tr><td><a href="{esc(base + quote(path))}">{esc(path)}</a></td><td>{size}</td>'
        f"<td><code>{sha256}</code></td></tr>"
        for path, size, sha256 in files
    )
    channel_rows = "\n".join(
        f"<li>{esc(name)}: {esc(str(channels[name]))}</li>" for name in sort_channel_names(channels)
    )
    sources = "\n".join(
        f"<li>manifest sha256 <code>{esc(digest or 'unknown')}</code>, made {esc(created)}: "
        f"{esc(contents)}</li>"
        for digest, created, contents in bundles
    )
    node_section = (
        f"<h2>Install a k3s node</h2>\n<pre>{esc(chr(10).join(node))}</pre>\n" if node else ""
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>kubeferry mirror</title></head><body>
<h1>kubeferry mirror</h1>
<p>Upstream URLs in their own layout: replace <code>https://</code> by <code>{esc(base)}/</code>.
Every file is checked against its bundle's sha256 before it is served.</p>
<h2>Point clients here</h2>
<pre>{settings}</pre>
{node_section}<h2>Channels</h2>
<ul>{channel_rows}</ul>
<h2>Files</h2>
<table><tr><th>path</th><th>bytes</th><th>sha256</th></tr>
{rows}
</table>
<h2>Bundles</h2>
<ul>{sources}</ul>
</body></html>
""".encode()
