"""Unmodified clients against a mirror base (`mirror serve`, or nginx serving an export).

Each check runs the real client over a real socket: kubeferry's CLI with only `KUBEFERRY_MIRROR`,
the kubectl wrapper with `KUBERLR_KUBEMIRRORURL`, curl making k3s's install-script requests,
curl resuming with `Range`, and curl's conditional requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from tests.conftest import Cli, child_environment
from tests.support.apiserver import ApiServer, Pki, cert_user, kubeconfig
from tests.support.mirror import NEWER_KUBECTL, curl, header, install_script_fetch
from tests.support.sample import KUBECTL, OLDER, STABLE


def fresh_cli(home: Path, **env: str) -> Cli:
    """The kubeferry CLI on an empty home with only `env` added."""
    home.mkdir(parents=True)
    return Cli(home, {**child_environment(home), **env})


def check_kubeferry_client(base: str, home: Path, bundle: Path) -> None:
    """`catalog update`, `cache add stable`, `kubectl get 1.32` with only KUBEFERRY_MIRROR set."""
    cli = fresh_cli(home, KUBEFERRY_MIRROR=base)
    updated = cli("catalog", "update")
    assert updated.code == 0, updated.stderr
    catalog = json.loads((cli.cache_dir / "k3s-versions.json").read_text())
    assert {STABLE, OLDER} <= set(catalog["versions"]) and catalog["channels"]["stable"] == "1.32.3"
    added = cli("cache", "add", "stable", "--arch", "amd64")
    assert added.code == 0, added.stderr
    for name in ("k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst"):
        cached = cli.cache_dir / "k3s" / STABLE / name
        assert cached.read_bytes() == (bundle / "k3s" / STABLE / name).read_bytes()
    got = cli("kubectl", "get", "1.32", "--os", "linux", "--arch", "amd64")
    assert got.code == 0, got.stderr
    name = f"kubectl{NEWER_KUBECTL}"
    placed = home / ".kuberlr" / "linux-amd64" / name
    assert placed.read_bytes() == (bundle / "kuberlr" / "linux-amd64" / name).read_bytes()


def check_wrapper(base: str, home: Path, pki: Pki) -> None:
    """The wrapper finds no kubectl for a 1.31.9 server and downloads it from the mirror."""
    cli = fresh_cli(home)
    bin_dir = home / "bin"
    assert cli("shim", "install", "--dir", str(bin_dir)).code == 0
    env = {
        **cli.env,
        "KUBERLR_SYSTEMPATH": str(home / "no-system-kubectl"),
        "KUBERLR_KUBEMIRRORURL": f"{base}/dl.k8s.io",
        "KUBECONFIG": str(home / ".kube" / "config"),
    }
    with ApiServer(pki, f"v{KUBECTL}+k3s1") as api:
        kubeconfig(home / ".kube" / "config", {"m": (api.url, cert_user(pki))}, pki, "m")
        done = subprocess.run(
            [str(bin_dir / "kubectl"), "version", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["clientVersion"]["gitVersion"] == f"v{KUBECTL}"
    assert f"downloading {KUBECTL}" in done.stderr and base in done.stderr
    assert (home / ".kuberlr" / "linux-amd64" / f"kubectl{KUBECTL}").is_file()


def check_kubectl_digests(base: str, bundle: Path) -> None:
    """`.sha256` and `.sha512` beside a kubectl hold the hex digest only; stable files answer."""
    data = (bundle / "kuberlr" / "linux-amd64" / f"kubectl{KUBECTL}").read_bytes()
    url = f"{base}/dl.k8s.io/release/v{KUBECTL}/bin/linux/amd64/kubectl"
    assert curl("-f", f"{url}.sha256").stdout.decode().strip() == hashlib.sha256(data).hexdigest()
    assert curl("-f", f"{url}.sha512").stdout.decode().strip() == hashlib.sha512(data).hexdigest()
    stable = curl("-f", f"{base}/dl.k8s.io/release/stable.txt").stdout.decode().strip()
    assert stable == f"v{NEWER_KUBECTL}"
    minor = curl("-f", f"{base}/dl.k8s.io/release/stable-1.31.txt").stdout.decode().strip()
    assert minor == f"v{KUBECTL}"


def check_install_script(base: str, workdir: Path, bundle: Path) -> None:
    """k3s's install script's requests: the channel redirect, the sums file, the binary."""
    workdir.mkdir()
    fetched = install_script_fetch(
        f"{base}/update.k3s.io/v1-release/channels",
        f"{base}/github.com/k3s-io/k3s/releases",
        workdir,
    )
    assert fetched["version"] == STABLE
    assert fetched["expected"] == fetched["actual"]
    assert fetched["binary"].read_bytes() == (bundle / "k3s" / STABLE / "k3s").read_bytes()
    encoded = STABLE.replace("+", "%2B")
    url = f"{base}/github.com/k3s-io/k3s/releases/download/{encoded}/sha256sum-amd64.txt"
    assert curl("-f", url).stdout == (bundle / "k3s" / STABLE / "sha256sum-amd64.txt").read_bytes()


def check_range_resume(base: str, workdir: Path, bundle: Path) -> None:
    """A download cut short resumes with `curl -C -` (a 206 from where it stopped)."""
    workdir.mkdir()
    relative = f"k3s/{STABLE}/k3s-airgap-images-amd64.tar.zst"
    data = (bundle / relative).read_bytes()
    url = f"{base}/github.com/k3s-io/k3s/releases/download/{STABLE}/{relative.rsplit('/', 1)[1]}"
    part = workdir / "images.part"
    curl("-f", "-r", "0-99999", "-o", str(part), url)
    assert part.read_bytes() == data[:100_000]
    resumed = curl("-f", "-C", "-", "-D", "-", "-o", str(part), url, "-w", "%{http_code}")
    assert resumed.stdout.decode().endswith("206")
    assert header(resumed.stdout, "Content-Range") == f"bytes 100000-{len(data) - 1}/{len(data)}"
    assert part.read_bytes() == data


def check_conditional(base: str) -> None:
    """HEAD gives length, ETag and Last-Modified; If-None-Match with that ETag gives 304."""
    url = f"{base}/github.com/k3s-io/k3s/releases/download/{STABLE}/k3s"
    head = curl("-f", "-I", url).stdout
    assert header(head, "Content-Length") and header(head, "Last-Modified")
    etag = header(head, "ETag")
    assert etag
    code = curl("-H", f"If-None-Match: {etag}", "-o", os.devnull, "-w", "%{http_code}", url)
    assert code.stdout.decode() == "304"
    since = header(head, "Last-Modified") or ""
    code = curl("-H", f"If-Modified-Since: {since}", "-o", os.devnull, "-w", "%{http_code}", url)
    assert code.stdout.decode() == "304"


def check_escapes_refused(base: str, allowed: tuple[int, ...]) -> None:
    """`..` and `%2e%2e` never leave the mirror's tree."""
    for path in (
        "/../../../../../../etc/passwd",
        "/dl.k8s.io/../../../../etc/passwd",
        "/dl.k8s.io/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/github.com/k3s-io/k3s/releases/download/..%2f..%2f..%2f..%2f..%2fetc/passwd",
    ):
        done = curl("--path-as-is", "-o", "-", "-w", "\n%{http_code}", base + path, check=False)
        body, _, code = done.stdout.decode("latin-1").rpartition("\n")
        assert int(code) in allowed, (path, code)
        assert "root:" not in body
