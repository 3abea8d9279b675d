"""Local commands load only what they need: no network stack, no rich, no YAML.

Not a timing (benchmarks/startup.py measures that): the modules that cost start-up time most
must stay out of `sys.modules` after a local command ran through the real entry point. Besides
the network stack that means the download modules (they bring hashlib, which loads OpenSSL),
importlib.resources (tempfile, shutil, zipfile) and shutil itself (bz2, lzma, zlib).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import child_environment

HEAVY = (
    "httpx",
    "httpcore",
    "rich",
    "yaml",
    "certifi",
    "ssl",
    "kubeferry.transport",
    "kubeferry.download",
    "kubeferry.oci",
    "kubeferry.registry",
    "kubeferry.mirror",
    "hashlib",
    "importlib.resources",
    "shutil",
    "tempfile",
    "zipfile",
    "subprocess",
    "concurrent.futures",
    "email",
    "urllib.request",
)
PROBE = """
import json, sys
from kubeferry.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("version",),
        ("versions",),
        ("cache", "list"),
        ("doctor", "--quick"),
        ("kubectl", "list"),
    ],
)
def test_local_command_does_not_import_heavy_modules(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=child_environment(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, 1), done.stderr  # doctor exits 1 on an empty machine
    loaded = [name for name in HEAVY if name in report["modules"]]
    assert loaded == [], f"{' '.join(args)} imported {loaded}"


def test_download_command_does_import_the_network_stack(tmp_path: Path) -> None:
    """The probe can fail: a command that downloads shows httpx in sys.modules."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**child_environment(home), "KUBEFERRY_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "kubectl", "get", "1.31.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 1
    assert "httpx" in report["modules"]
