#!/usr/bin/env python3
"""Stress: random kills and concurrent pairs of `cache add`, `bundle create`, `bundle install`.

    python benchmarks/stress.py [-n 20] [--seed 9] [--write-results]

Run by hand, not in CI. Against a local upstream (tests/support) that sends 64 KiB pieces with a
short pause, so a run lasts long enough to be cut anywhere:

1. kills: for each command, N times: start it, SIGKILL it after a random delay, check every
   visible file, run it again to the end, check again;
2. pairs: for each command, N times: start two runs on the same target 0-0.7 s apart (0-0.1 s
   for installs, which are quick); both must exit 0; check every visible file.

A visible file is one Rancher Desktop, kuberlr or a bundle reader would use: a file under a
version folder `k3s/<tag>/`, a `kubectl<version>` in a kuberlr folder, a bundle's manifest and
catalog. Each must hold exactly the upstream bytes (or parse, for the JSON ones), and a visible
version folder must hold all of its files: "corrupt visible files: 0 of N" is the goal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from results import replace_section  # noqa: E402 - after the path line above
from tests.conftest import child_environment  # noqa: E402
from tests.support.k3s import github_release, release_files, serve_release  # noqa: E402
from tests.support.sample import sample_channels  # noqa: E402
from tests.support.upstream import Fault, LocalUpstream, UpstreamState  # noqa: E402

TAGS = ("v1.32.3+k3s1", "v1.30.6+k3s1")
KUBECTL = "1.31.9"
IMAGES_SIZE = 1_500_000


@dataclass
class Tally:
    """Counts for one command and one mode."""

    trials: int = 0
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    completed: int = 0
    waited: int = 0


def build_upstream() -> tuple[LocalUpstream, dict[str, str]]:
    """The upstream and the sha256 of every file by its relative place (`k3s/<tag>/<name>`)."""
    state = UpstreamState(channels=sample_channels())
    expected: dict[str, str] = {}
    for tag in TAGS:
        files = release_files(tag, "amd64", images_size=IMAGES_SIZE)
        serve_release(state.files, files)
        state.releases.append(github_release(tag, list(files.files)))
        for name, data in files.files.items():
            expected[f"k3s/{tag}/{name}"] = hashlib.sha256(data).hexdigest()
            state.faults[f"/k3s/{tag}/{name}"] = Fault(chunk_size=64 * 1024, delay_per_chunk=0.01)
    kubectl = random.Random(1).randbytes(3_000_000)
    state.files["/dl/release/stable-1.31.txt"] = f"v{KUBECTL}\n".encode()
    base = f"/dl/release/v{KUBECTL}/bin/linux/amd64/kubectl"
    state.files[base] = kubectl
    state.files[base + ".sha256"] = hashlib.sha256(kubectl).hexdigest().encode()
    state.faults[base] = Fault(chunk_size=64 * 1024, delay_per_chunk=0.01)
    expected[f"kubectl{KUBECTL}"] = hashlib.sha256(kubectl).hexdigest()
    return LocalUpstream(state), expected


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_versions(
    k3s: Path, expected: dict[str, str], tally: Tally, *, whole: bool = True
) -> None:
    """Every file in a version folder has the upstream bytes; with `whole` (the cache: Rancher
    Desktop uses any folder named like a tag) each folder also holds all its files. A bundle's
    folders fill in place: its manifest, written last, is what makes it usable."""
    if not k3s.is_dir():
        return
    for folder in k3s.iterdir():
        if folder.name.startswith((".", "tmp-")):
            continue
        wanted = {
            k.split("/")[-1]: v for k, v in expected.items() if k.startswith(f"k3s/{folder.name}/")
        }
        present = {p.name: p for p in folder.iterdir() if not p.name.startswith(".")}
        needed = {"k3s", "sha256sum-amd64.txt"}
        complete = needed <= set(present) and any(n.startswith("k3s-airgap") for n in present)
        if whole and not complete:
            tally.corrupt.append(f"{folder}: incomplete version folder {sorted(present)}")
        for name, path in present.items():
            tally.checked += 1
            if name in wanted and sha256(path) != wanted[name]:
                tally.corrupt.append(f"{path}: wrong bytes")


def check_json(path: Path, tally: Tally) -> None:
    if path.exists():
        tally.checked += 1
        try:
            json.loads(path.read_text())
        except ValueError:
            tally.corrupt.append(f"{path}: not JSON")


def check_kubectls(folder: Path, expected: dict[str, str], tally: Tally) -> None:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith("kubectl"):
            tally.checked += 1
            if sha256(path) != expected.get(path.name):
                tally.corrupt.append(f"{path}: wrong bytes")


def check_target(home: Path, bundle: Path, expected: dict[str, str], tally: Tally) -> None:
    cache = home / ".cache" / "rancher-desktop"
    check_versions(cache / "k3s", expected, tally)
    check_json(cache / "k3s-versions.json", tally)
    check_kubectls(home / ".kuberlr" / "linux-amd64", expected, tally)
    check_versions(bundle / "k3s", expected, tally, whole=False)
    check_kubectls(bundle / "kuberlr" / "linux-amd64", expected, tally)
    check_json(bundle / "k3s-versions.json", tally)
    if (bundle / "kubeferry-bundle.json").exists():
        check_json(bundle / "kubeferry-bundle.json", tally)
        verify = run(home, ["bundle", "verify", str(bundle)], {})
        if verify.returncode != 0:
            tally.corrupt.append(f"{bundle}: a manifest is visible but verify fails")


def run(home: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeferry", *args],
        env={**child_environment(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def start(home: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubeferry", *args],
        env={**child_environment(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def commands(work: Path, source_bundle: Path) -> dict[str, list[str]]:
    bundle = work / "bundle"
    return {
        "cache add": ["cache", "add", *TAGS],
        "bundle create": [
            "bundle",
            "create",
            str(bundle),
            "--k3s",
            TAGS[0],
            "--k3s",
            TAGS[1],
            "--kubectl",
            "1.31",
            "--arch",
            "amd64",
            "--os",
            "linux",
        ],
        "bundle install": ["bundle", "install", str(source_bundle)],
    }


def fresh(root: Path, number: int) -> tuple[Path, Path]:
    work = root / f"trial-{number}"
    home = work / "home"
    home.mkdir(parents=True)
    return work, home


def kill_trial(
    name: str,
    root: Path,
    number: int,
    source: Path,
    env: dict[str, str],
    expected: dict[str, str],
    rng: random.Random,
    tally: Tally,
) -> None:
    work, home = fresh(root, number)
    args = commands(work, source)[name]
    child = start(home, args, env)
    time.sleep(rng.uniform(0.2, 2.5))
    child.send_signal(signal.SIGKILL)
    child.communicate()
    tally.trials += 1
    check_target(home, work / "bundle", expected, tally)
    again = run(home, args, env)
    if again.returncode == 0:
        tally.completed += 1
    else:
        tally.corrupt.append(f"rerun of {name} failed: {again.stderr.strip()[-300:]}")
    check_target(home, work / "bundle", expected, tally)
    shutil.rmtree(work)


def pair_trial(
    name: str,
    root: Path,
    number: int,
    source: Path,
    env: dict[str, str],
    expected: dict[str, str],
    rng: random.Random,
    tally: Tally,
) -> None:
    work, home = fresh(root, number)
    args = commands(work, source)[name]
    first = start(home, args, env)
    time.sleep(rng.uniform(0.0, 0.1 if name == "bundle install" else 0.7))  # installs are quick
    second = start(home, args, env)
    results = [first.communicate(), second.communicate()]
    tally.trials += 1
    if first.returncode == 0 and second.returncode == 0:
        tally.completed += 1
    else:
        tally.corrupt.append(
            f"{name} pair: exits {first.returncode}, {second.returncode}: "
            f"{results[0][1][-200:]} {results[1][1][-200:]}"
        )
    tally.waited += sum("waiting for another kubeferry run" in err for _, err in results)
    check_target(home, work / "bundle", expected, tally)
    shutil.rmtree(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20, help="trials per command and mode")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--write-results", action="store_true")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    upstream, expected = build_upstream()
    tallies: dict[tuple[str, str], Tally] = {}
    started = time.monotonic()
    with upstream, tempfile.TemporaryDirectory(prefix="kubeferry-stress-") as temporary:
        root = Path(temporary)
        env = upstream.environ()
        maker = root / "maker"
        maker.mkdir()
        source = root / "source-bundle"
        create = commands(root, source)["bundle create"]
        made = run(maker, [*create[:2], str(source), *create[3:]], env)
        if made.returncode != 0:
            print(made.stderr, file=sys.stderr)
            return 1
        number = 0
        for mode, trial in (("kill", kill_trial), ("pair", pair_trial)):
            for name in ("cache add", "bundle create", "bundle install"):
                tally = tallies.setdefault((mode, name), Tally())
                for _ in range(options.n):
                    number += 1
                    trial(name, root, number, source, env, expected, rng, tally)
                print(
                    f"{mode:5} {name:15} trials {tally.trials}, completed {tally.completed}, "
                    f"waited {tally.waited}, corrupt {len(tally.corrupt)} of {tally.checked}",
                    flush=True,
                )
    elapsed = time.monotonic() - started
    corrupt = [c for t in tallies.values() for c in t.corrupt]
    checked = sum(t.checked for t in tallies.values())
    for line in corrupt:
        print("CORRUPT", line)
    print(f"corrupt visible files: {len(corrupt)} of {checked} ({elapsed:.0f} s)")
    if options.write_results:
        write_results(tallies, options.n, len(corrupt), checked, elapsed)
    return 1 if corrupt else 0


def write_results(
    tallies: dict[tuple[str, str], Tally], n: int, corrupt: int, checked: int, elapsed: float
) -> None:
    marker = "## Stress: kills and concurrent runs"
    rows = "\n".join(
        f"| {mode} | {name} | {t.trials} | {t.completed} | {t.waited} | {len(t.corrupt)} |"
        for (mode, name), t in tallies.items()
    )
    section = f"""{marker} (`python benchmarks/stress.py -n {n} --write-results`)

Measured {time.strftime("%Y-%m-%d")} on 2 cores, Python {sys.version.split()[0]}, against the
local upstream of tests/support sending 64 KiB pieces with a 10 ms pause (two k3s tags of
{IMAGES_SIZE // 1000} kB images each, a 3 MB kubectl). "kill": SIGKILL after 0.2-2.5 s, check,
rerun to the end, check. "pair": two runs on one target started 0-0.7 s apart
(0-0.1 s for the quicker installs), both must exit 0.

| mode | command | trials | completed (rerun / both exit 0) | runs that waited for the lock | corrupt |
|---|---|---|---|---|---|
{rows}

corrupt visible files: {corrupt} of {checked} ({elapsed:.0f} s in all). There is nothing to run
side by side here: no other tool fills the Rancher Desktop cache or a bundle.
"""
    replace_section(marker, section)


if __name__ == "__main__":
    raise SystemExit(main())
