"""The wrapper's pure parts: flags, names, choice, kuberlr config, and its import budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubeferry.core.kuberlr import parse_binary_name
from kubeferry.core.kuberlr_config import load_config, parse_flat_toml
from kubeferry.core.skew import choose, parse_version
from kubeferry.shim.argv import scan_flags


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["get", "pods", "--context", "a"], ("a", None)),
        (["--context=a", "--kubeconfig=/k", "get"], ("a", "/k")),
        (["--context", "a", "--context", "b"], ("b", None)),
        (["exec", "p", "--", "kubectl", "--context", "x"], (None, None)),
        (["--context"], (None, None)),
    ],
    ids=["separate", "equals", "last-wins", "stops-at-dashdash", "dangling"],
)
def test_scan_flags(args: list[str], expected: tuple[str | None, str | None]) -> None:
    assert scan_flags(args) == expected


@pytest.mark.parametrize(
    ("name", "windows", "version"),
    [
        ("kubectl1.30.6", False, (1, 30, 6)),
        ("kubectl1.30", False, (1, 30, 0)),
        ("kubectl1.30.6.exe", True, (1, 30, 6)),
        ("kubectl1.30.6.exe", False, None),
        ("kubectl1.30.6.part", False, None),
        (".kubectl1.30.6.part", False, None),
        ("kubectl", False, None),
        ("kubectl1.30.6-old", False, None),
    ],
    ids=[
        "patch",
        "minor-only",
        "windows-exe",
        "exe-on-linux",
        "part",
        "dot-part",
        "bare",
        "suffix",
    ],
)
def test_binary_names(name: str, windows: bool, version: tuple[int, int, int] | None) -> None:
    assert parse_binary_name(name, windows=windows) == version


B = [((1, 29, 4), "a"), ((1, 31, 9), "b"), ((1, 31, 2), "c"), ((1, 33, 9), "d")]


@pytest.mark.parametrize(
    ("server", "chosen"),
    [
        ((1, 31, 0), "b"),
        ((1, 30, 6), "b"),
        ((1, 32, 1), "d"),
        ((1, 34, 0), "d"),
        ((1, 28, 0), "a"),
        ((1, 36, 0), None),
        ((2, 31, 0), None),
    ],
    ids=[
        "own-newest-patch",
        "plus-one-first",
        "plus-one",
        "minus-one",
        "plus-one-from-28",
        "none",
        "other-major",
    ],
)
def test_choose(server: tuple[int, int, int], chosen: str | None) -> None:
    found = choose(server, B)
    assert (found[1] if found else None) == chosen


@pytest.mark.parametrize(
    ("text", "version"),
    [("v1.30.6+k3s1", (1, 30, 6)), ("1.30", (1, 30, 0)), ("v1.31.0-rc.1", (1, 31, 0)), ("x", None)],
    ids=str,
)
def test_parse_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == version


def test_flat_toml() -> None:
    values = parse_flat_toml(
        'AllowDownload = false\n# c\nTimeout = 3 # s\nKubeMirrorUrl = "https://m.example/k8s"\n'
    )
    assert values == {
        "allowdownload": False,
        "timeout": 3,
        "kubemirrorurl": "https://m.example/k8s",
    }


def test_config_files_then_variables(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".kuberlr").mkdir(parents=True)
    (home / ".kuberlr" / "kuberlr.conf").write_text("AllowDownload = false\nTimeout = 3\n")
    extra = tmp_path / "extra.conf"
    extra.write_text("[section]\nignored = 1\n")  # not flat: goes through tomllib
    later = tmp_path / "later.conf"
    later.write_text('SystemPath = "/opt/kubectl/bin"\nTimeout = 7\n')
    environ = {"HOME": str(home), "KUBERLR_CFG": str(later), "KUBERLR_ALLOWDOWNLOAD": "true"}
    config = load_config(environ, windows=False)
    assert (config.allow_download, config.timeout, config.system_path) == (
        True,
        7.0,
        "/opt/kubectl/bin",
    )
    assert config.mirror_url == "https://dl.k8s.io"


def test_broken_config_is_an_error(tmp_path: Path) -> None:
    from kubeferry.core.kuberlr_config import ConfigError

    bad = tmp_path / "bad.conf"
    bad.write_text("AllowDownload = [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.conf"):
        load_config({"HOME": str(tmp_path), "KUBERLR_CFG": str(bad)}, windows=False)


HEAVY = (
    "collections",
    "yaml",
    "ssl",
    "json",
    "re",
    "http.client",
    "httpx",
    "pathlib",
    "socket",
    "tomllib",
    "dataclasses",
    "kubeferry.shim.resolve",
    "kubeferry.shim.probe",
    "kubeferry.core.versions",
    "click",
    "rich",
    "truststore",
    "certifi",
    "subprocess",
    "kubeferry.shim.connect",
    "kubeferry.shim.credentials",
    "kubeferry.shim.tls",
    "kubeferry.shim.kubeconfig",
)


@pytest.mark.parametrize("age", [0, 10], ids=["fresh", "revalidated-in-background"])
def test_warm_path_loads_only_light_standard_modules(tmp_path: Path, age: float) -> None:
    """Run the wrapper's warm path with exec replaced by a report of sys.modules."""
    home = tmp_path / "home"
    local = home / ".kuberlr" / "linux-amd64"
    local.mkdir(parents=True)
    (local / "kubectl1.31.9").write_text("#!/bin/sh\n")
    kubeconfig = home / ".kube" / "config"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text("current-context: k\n")
    from kubeferry.shim.versioncache import VersionCache, cache_file, fingerprint

    environ = {"HOME": str(home)}
    cache = VersionCache(cache_file(environ, str(home)))
    import time

    cache.record(
        fingerprint([str(kubeconfig)], None),
        "https://x#1",
        "1.31.2",
        "v1.31.2+k3s1",
        time.time() - age,
    )
    src = Path(__file__).resolve().parents[2] / "src"
    program = (
        "import os, sys\n"
        "def report(path, args):\n"
        "    sys.stdout.write(path + '\\n' + '\\n'.join(sorted(sys.modules)))\n"
        "    sys.stdout.flush()\n"
        "    os._exit(0)\n"
        "os.execv = report\n"
        "from kubeferry.shim import main\n"
        "main(['get', 'pods'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", program],
        capture_output=True,
        text=True,
        env={
            "HOME": str(home),
            "PYTHONPATH": str(src),
            "PATH": "/usr/bin",
            "KUBERLR_SYSTEMPATH": str(tmp_path / "none"),
        },
        check=False,
        timeout=30,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert lines[0] == str(local / "kubectl1.31.9")
    loaded = set(lines[1:])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "kubeferry.shim.decide" in loaded
    assert ("kubeferry.shim.background" in loaded) is (age > 0)
