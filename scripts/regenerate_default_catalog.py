#!/usr/bin/env python3
"""Regenerate the catalog shipped inside kubeferry (src/kubeferry/data/k3s-versions.json).

Online (default): fetch update.k3s.io and the GitHub releases API (or the mirrors named by
KUBEFERRY_K3S_CHANNELS_URL / KUBEFERRY_K3S_RELEASES_URL; GITHUB_TOKEN helps with the rate limit).
Offline: --from DIR reads DIR/channels.json and DIR/releases.json, saved from those endpoints.
Either way the file is made by kubeferry's own converter, so it follows the same rules.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from kubeferry.catalog.file import write_catalog
from kubeferry.catalog.rules import convert_upstream, releases_from_pages
from kubeferry.catalog.upstream import Upstream
from kubeferry.core.endpoints import Endpoints
from kubeferry.errors import KubeferryError
from kubeferry.transport import http

TARGET = Path(__file__).resolve().parent.parent / "src" / "kubeferry" / "data" / "k3s-versions.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="folder with saved JSON")
    parser.add_argument("-o", "--output", type=Path, default=TARGET)
    args = parser.parse_args()
    try:
        if args.source:
            channels = json.loads((args.source / "channels.json").read_text())
            releases = releases_from_pages(
                json.loads((args.source / "releases.json").read_text()),
                source=str(args.source / "releases.json"),
            )
        else:
            with http.open_client() as client:
                upstream = Upstream(client, Endpoints.from_environ(os.environ))
                channels, releases = upstream.fetch_channels(), upstream.fetch_releases()
        catalog = convert_upstream(channels, releases)
    except KubeferryError as exc:
        print(f"regenerate: error: {exc}", file=sys.stderr)
        return 1
    write_catalog(args.output, catalog)
    print(
        f"wrote {args.output}: {len(catalog.versions)} versions, stable "
        f"{catalog.channels.get('stable')}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
