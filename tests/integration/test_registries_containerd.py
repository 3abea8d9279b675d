"""`registries write --for containerd DIR`: hosts.toml files, and its usage errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.conftest import Cli


def test_hosts_files_per_registry_parse_as_toml(cli: Cli, tmp_path: Path) -> None:
    hosts = tmp_path / "certs.d"
    result = cli(
        "registries", "write", "--mirror", "registry.corp:5000/mirror", "--ca-file",
        "/etc/ssl/corp.pem", "--for", "containerd", str(hosts), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.json()["kind"] == "containerd-hosts"
    for registry in ("docker.io", "registry.k8s.io", "ghcr.io", "quay.io"):
        document = tomllib.loads((hosts / registry / "hosts.toml").read_text())
        host = document["host"]["https://registry.corp:5000/v2/mirror"]
        assert host == {
            "capabilities": ["pull", "resolve"],
            "override_path": True,
            "ca": "/etc/ssl/corp.pem",
        }
    hub = tomllib.loads((hosts / "docker.io" / "hosts.toml").read_text())
    assert hub["server"] == "https://registry-1.docker.io"


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    missing = cli("registries", "write", "--mirror", "http://m:8080", "--for", "containerd")
    assert missing.code != 0 and "--for containerd DIR" in missing.stderr
    stray = cli("registries", "write", "--mirror", "http://m:8080", str(tmp_path / "x"))
    assert stray.code == 2 and "only for --for containerd" in stray.stderr
    assert not (tmp_path / "x").exists()
