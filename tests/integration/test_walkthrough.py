"""The README walk-through script runs from a checkout with nothing but the package installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import child_environment

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "walkthrough.py"


def test_walkthrough_replays_the_readme(tmp_path: Path, real_kubectls: dict[str, Path]) -> None:
    env = child_environment(tmp_path)  # PYTHONPATH is src only: tests/ is not importable
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--kubectl", str(real_kubectls["1.31.9"])],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out = done.stdout
    assert "$ export KUBEFERRY_OFFLINE=1" in out
    assert "READY for offline use" in out
    assert "1.31.9   linux/amd64  1.30, 1.32" in out
    assert "Server Version: v1.32.3+k3s1" in out
    assert "kubeferry-walkthrough-" not in out  # paths are shortened as the README shows them
    readme = (SCRIPT.parents[1] / "README.md").read_text()
    for line in ("$ kubeferry bundle verify /media/bundle", "READY for offline use"):
        assert line in readme
