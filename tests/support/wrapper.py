"""The installed kubectl wrapper, run as a user runs it, with real kubectl binaries."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import Cli, Result
from tests.support.apiserver import ApiServer, Pki, kubeconfig


@dataclass
class Wrapper:
    cli: Cli
    bin_dir: Path
    env: dict[str, str]

    @property
    def local_dir(self) -> Path:
        return self.cli.home / ".kuberlr" / "linux-amd64"

    @property
    def cache_file(self) -> Path:
        return self.cli.home / ".cache" / "kubeferry" / "server-versions"

    def provide(self, *versions: str, store: dict[str, Path]) -> None:
        self.local_dir.mkdir(parents=True, exist_ok=True)
        for version in versions:
            (self.local_dir / f"kubectl{version}").symlink_to(store[version])

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, stdin: Any = subprocess.DEVNULL
    ) -> Result:
        done = subprocess.run(
            [str(self.bin_dir / "kubectl"), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=stdin,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def client_version(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = self("version", "-o", "json", *args, env=env)
        assert result.code in (0, 1), result.stderr
        return json.loads(result.stdout)["clientVersion"]["gitVersion"]

    def wait_for_refresher(self, timeout: float = 30) -> None:
        """Until the detached refresher has removed its lock (polling, not a blind sleep)."""
        lock = self.cache_file.with_name(self.cache_file.name + ".refreshing")
        deadline = time.monotonic() + timeout
        while lock.exists():
            assert time.monotonic() < deadline, "the background refresher did not finish"
            time.sleep(0.05)


def make_wrapper(cli: Cli, tmp_path: Path) -> Wrapper:
    """`kubeferry shim install` into tmp_path/bin, with no system kubectl."""
    bin_dir = tmp_path / "bin"
    installed = cli("shim", "install", "--dir", str(bin_dir))
    assert installed.code == 0, installed.stderr
    env = {
        **cli.env,
        "KUBERLR_SYSTEMPATH": str(tmp_path / "no-system-kubectl"),
        "PATH": f"{bin_dir}{os.pathsep}{cli.env.get('PATH', '')}",
        "KUBECONFIG": str(cli.home / ".kube" / "config"),
    }
    return Wrapper(cli, bin_dir, env)


@dataclass
class Clusters:
    """Test API servers started on demand and stopped at the end."""

    pki: Pki
    servers: list[ApiServer] = field(default_factory=list)

    def __call__(self, version: str, pki: Pki | None = None) -> ApiServer:
        server = ApiServer(pki or self.pki, version).__enter__()
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def write_config(
    wrapper: Wrapper,
    pki: Pki,
    servers: dict[str, tuple[ApiServer, dict]],
    current: str,
    path: Path | None = None,
) -> Path:
    """A kubeconfig (default ~/.kube/config) with one context per (server, user)."""
    target = path or wrapper.cli.home / ".kube" / "config"
    return kubeconfig(target, {n: (s.url, u) for n, (s, u) in servers.items()}, pki, current)


OFFLINE_COMMAND = [
    *("create", "configmap", "x", "--from-literal=a=b"),
    *("--dry-run=client", "-o", "name"),
]
"""A command that is not client-only for the wrapper, yet kubectl runs it without the server."""
