"""Bundles for the mirror tests, and `kubeferry mirror serve` as a real child process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.conftest import Cli
from tests.support.sample import sample_upstream
from tests.support.upstream import LocalUpstream

NEWER_KUBECTL = "1.32.5"  # on the sample mirror only as bytes: `kubectl get 1.32` checks digests
BUNDLE_ARGS = (
    "--k3s",
    "stable",
    "--k3s",
    "1.30",
    "--arch",
    "amd64",
    "--os",
    "linux",
    "--kubectl",
    "1.31",
    "--kubectl",
    "1.32",
)


def mirror_upstream(kubectl_bytes: bytes, newer_bytes: bytes) -> LocalUpstream:
    """The sample upstream plus a kubectl 1.32 (so a bundle can carry two minors)."""
    upstream = sample_upstream(kubectl_bytes)
    files = upstream.state.files
    files["/dl/release/stable-1.32.txt"] = f"v{NEWER_KUBECTL}\n".encode()
    base = f"/dl/release/v{NEWER_KUBECTL}/bin/linux/amd64/kubectl"
    files[base] = newer_bytes
    files[base + ".sha256"] = hashlib.sha256(newer_bytes).hexdigest().encode()
    return upstream


def make_bundle(cli: Cli, upstream: LocalUpstream, folder: Path) -> Path:
    """A bundle made through the real CLI from `upstream`."""
    result = cli("bundle", "create", str(folder), *BUNDLE_ARGS, env=upstream.environ())
    assert result.code == 0, result.stderr
    return folder


def edit_bundle(source: Path, target: Path, changes: dict[str, bytes | None]) -> Path:
    """A copy of a bundle with files replaced, added or (None) removed, manifest to match."""
    shutil.copytree(source, target, symlinks=True)
    manifest_path = target / "kubeferry-bundle.json"
    manifest = json.loads(manifest_path.read_text())
    files = {entry["path"]: entry for entry in manifest["files"]}
    for relative, data in changes.items():
        if data is None:
            files.pop(relative, None)
            (target / relative).unlink()
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        files[relative] = {"path": relative, "size": len(data), "sha256": digest, "url": ""}
    manifest["files"] = sorted(files.values(), key=lambda entry: entry["path"])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return target


class MirrorProcess:
    """`kubeferry mirror serve ... --listen 127.0.0.1:0` in a child process."""

    def __init__(
        self,
        env: dict[str, str],
        *bundles: Path,
        extra: tuple[str, ...] = (),
        open_files: int | None = None,
    ) -> None:
        self.open_files = open_files  # the child's open-files limit (soft and hard), if given
        self.args = [
            sys.executable,
            "-m",
            "kubeferry",
            "mirror",
            "serve",
            *map(str, bundles),
            "--listen",
            "127.0.0.1:0",
            *extra,
        ]
        self.env = env
        self.lines: list[str] = []
        self.stderr_lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> MirrorProcess:
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=self._limit if self.open_files else None,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first.startswith("serving at "):
            self.process.wait(timeout=10)
            self._reader.join(timeout=5)
            raise AssertionError(f"mirror did not start: {first!r} {self.stderr}")
        self.lines = [first.rstrip("\n")]
        self.lines += [self.process.stdout.readline().rstrip("\n") for _ in range(4)]
        self.base = first.split("serving at ", 1)[1].split()[0].rstrip("/")
        return self

    def _limit(self) -> None:
        import resource

        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def stop(self, number: int = signal.SIGTERM) -> int:
        """Send a signal and wait; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(number)
        code = self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        return code

    def __exit__(self, *exc: object) -> None:
        self.stop()


def curl(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """curl with the loopback-only environment of the tests (no proxies)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(["curl", "-sS", *args], capture_output=True, env=env, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr.decode()
    return done


def header(raw: bytes, name: str) -> str | None:
    """A header value from `curl -D -` or `-I` output (the last response's)."""
    found = None
    for line in raw.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            found = value.strip()
    return found


def install_script_fetch(channel_url: str, github_url: str, workdir: Path) -> dict[str, Any]:
    """The requests of k3s's install script, made with curl exactly as it makes them."""
    effective = curl("-w", "%{url_effective}", "-L", f"{channel_url}/stable", "-o", os.devnull)
    version = effective.stdout.decode().rsplit("/", 1)[1]
    hashes = workdir / "hash"
    binary = workdir / "k3s"
    curl("-o", str(hashes), "-sfL", f"{github_url}/download/{version}/sha256sum-amd64.txt")
    line = next(x for x in hashes.read_text().splitlines() if x.endswith(" k3s"))
    curl("-o", str(binary), "-sfL", f"{github_url}/download/{version}/k3s")
    summed = subprocess.run(["sha256sum", str(binary)], capture_output=True, text=True, check=True)
    return {
        "version": version,
        "expected": line.split()[0],
        "actual": summed.stdout.split()[0],
        "binary": binary,
    }
