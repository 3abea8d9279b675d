"""A private, real containerd for a test: its own config, root, state and socket under tmp.

Started as root (`containerd --config FILE`); `ctr --address SOCK` talks to it. Each instance uses
its own namespace, so the cleanup can remove exactly what runc left: `/run/containerd/runc/<ns>`
and the cgroup named after the namespace. Mounts under the temp folder are unmounted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.interrupt import terminate

CGROUP_ROOT = Path("/sys/fs/cgroup")


def unavailable() -> str | None:
    """Why a private containerd cannot run here (None when it can)."""
    for program in ("containerd", "ctr", "runc"):
        if shutil.which(program) is None:
            return f"{program} is not installed: apt-get install containerd runc"
    if os.geteuid() != 0:
        return f"containerd and runc need root (the test runs as uid {os.geteuid()})"
    if not CGROUP_ROOT.is_dir():
        return "no cgroup filesystem at /sys/fs/cgroup: runc cannot start containers"
    return None


class Containerd:
    """One running containerd; `ctr(...)` runs ctr against it in its own namespace."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "containerd.sock"
        self.namespace = f"kubeferry-test-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "config.toml"
        self.config.write_text(
            f"""version = 2
root = "{folder / "root"}"
state = "{folder / "state"}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = "{folder / "debug.sock"}"
"""
        )
        self.log = folder / "containerd.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                ["containerd", "--config", str(self.config)], stdout=sink, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"containerd exited: {self.log.read_text()[-2000:]}")
            if self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"containerd did not answer within 20 s: {self.log.read_text()[-2000:]}")

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", self.namespace, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"ctr {' '.join(args)}: {done.stderr}"
        return done

    def stop(self) -> None:
        """Stop containerd; unmount what it left under its folder; remove runc's state and the
        namespace's cgroups."""
        terminate(self.process)
        prefix = str(self.folder)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for target in reversed([m for m in mounts if m.startswith(prefix)]):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        shutil.rmtree(Path("/run/containerd/runc") / self.namespace, ignore_errors=True)
        for cgroup in self.cgroups():
            inner = [p for p in cgroup.rglob("*") if p.is_dir()]
            for folder in [*sorted(inner, key=lambda p: len(p.parts), reverse=True), cgroup]:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        shutil.rmtree(self.folder, ignore_errors=True)

    def cgroups(self) -> list[Path]:
        """The cgroups runc made for this namespace (one per controller on cgroup v1)."""
        found = [CGROUP_ROOT / self.namespace]
        found += [c / self.namespace for c in CGROUP_ROOT.iterdir() if c.is_dir()]
        return [path for path in found if path.is_dir()]
