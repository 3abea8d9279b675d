"""A small upstream for end-to-end runs: two k3s tags, two arches, one kubectl on the mirror.

Used by the bundle tests and by `scripts/walkthrough.py`.
"""

from __future__ import annotations

import hashlib

from tests.support.k3s import github_release, release_files, serve_release
from tests.support.upstream import LocalUpstream, UpstreamState

STABLE, OLDER = "v1.32.3+k3s1", "v1.30.6+k3s1"
TAGS = (STABLE, OLDER)
ARCHES = ("amd64", "arm64")
KUBECTL = "1.31.9"  # covers 1.30 and 1.32: the auto plan's single kubectl


def sample_channels() -> dict:
    data = [
        {"type": "channel", "name": n, "latest": t}
        for n, t in (("stable", STABLE), ("latest", STABLE), ("v1.32", STABLE), ("v1.30", OLDER))
    ]
    return {"type": "collection", "resourceType": "channels", "data": data}


def sample_upstream(kubectl_bytes: bytes) -> LocalUpstream:
    state = UpstreamState(channels=sample_channels())
    for tag in TAGS:
        names = []
        for arch in ARCHES:
            files = release_files(tag, arch, images_size=300_000)
            serve_release(state.files, files)
            names += list(files.files)
        state.releases.append(github_release(tag, names))
    state.files["/dl/release/stable-1.31.txt"] = f"v{KUBECTL}\n".encode()
    for os_name, name in (("linux", "kubectl"), ("windows", "kubectl.exe")):
        for arch in ARCHES:  # the same bytes stand in for every build: only digests are checked
            base = f"/dl/release/v{KUBECTL}/bin/{os_name}/{arch}/{name}"
            state.files[base] = kubectl_bytes
            state.files[base + ".sha256"] = hashlib.sha256(kubectl_bytes).hexdigest().encode()
    return LocalUpstream(state)
