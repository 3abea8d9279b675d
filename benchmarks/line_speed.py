"""Line speed: one 500 MB file from nginx on loopback, kubeferry vs `curl -o` vs `aria2c`.

Run through `python benchmarks/downloads.py --line-speed [--write-results]`. Every round runs
each client once, in the same order (interleaved A B C ...), so all see the same machine load;
a figure is the median over rounds of the paired ratio (curl's time / the client's time: above
1.0x is faster than curl), with its min-max. Two servers: nginx as is, and nginx with
`limit_rate 50m;` (each connection limited, as many mirrors and proxies do), where several
connections (aria2c `-x 4`, kubeferry `--connections 4`) should deliver several times one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.nginx import Nginx  # noqa: E402

from benchmarks.results import compile_bytecode, ratio_summary  # noqa: E402

MB = 1000 * 1000
NOTES = """Notes. The engine rows time `download()` alone in a fresh process (the transfer, sha256 while
streaming, the fsync, the rename); the `kubeferry kubectl get` rows are the whole command as a
user runs it (interpreter start with compiled bytecode, imports, the `.sha256` request, the lock,
the transfer). Each client's output is removed and the disk flushed after its run, untimed (this
file system discards deleted blocks at its next journal commit, which a client that syncs would
otherwise wait for). Since the previous figures (engine 0.74x on a loaded machine, 0.81x-0.84x
on a quiet one the same day): (1) every body byte was copied twice in the thread that reads the
socket (h11 appended each read to its buffer, httpcore copied what it extracted into new bytes);
a read that arrives while h11's buffer is empty now goes on as the object it is
(transport/body_speed.py); (2) glibc handed each freed 1 MiB buffer back to the kernel and the
next read faulted fresh pages in (about 30,000 page faults for 160 MB); on the first download
`mallopt` keeps them in the process (download/memory.py). Interleaved A/B runs of the engine
against the previous commit's, 500 MB, 11 rounds: 0.507 s against 0.612 s (trim threshold 64
MiB), and 0.512 s with the 16 MiB now set (curl 0.495 s in that run). Earlier changes: write-out
every 8 MiB (`sync_file_range`, download/writeback.py) so the final fsync waits for the tail
only; the pieces state saved by a thread of its own without fsync; the first answer of a
download in pieces written by a thread of its own; certificates loaded on the first https
connection. On this unlimited loopback the first answer is fast, so the 4-connection rows stay
on one connection (helpers join only when neither of the first two 8 MiB pieces came faster than
256 MB/s; nginx's access log shows one request). With `limit_rate 50m` every single-connection
client sits at the limit, and 4 connections deliver 3.5x-3.7x one, as aria2c `-x 4` does. The
engine also hashes every byte with sha256 while it arrives, which curl -o does not (`curl -o +
sha256sum` is the limited table's row). Single rounds range widely (a slow curl round gives a high ratio), hence the
interleaved rounds and the median of the paired ratios. Peak RSS is GNU time's maximum resident
size of the client; it does not grow with the file.
"""
VERSION = "1.31.9"
KUBECTL_PATH = f"release/v{VERSION}/bin/linux/amd64/kubectl"
ENGINE = """
import sys, time
from pathlib import Path
from kubeferry.transport import http
from kubeferry.download.engine import DownloadJob, download
url, target, digest, connections = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
began = time.perf_counter()
with http.open_client() as client:
    download(client, DownloadJob(url, target, sha256=digest), connections=connections)
print(time.perf_counter() - began)
"""


def _serve_tree(size_mb: int) -> tuple[Path, str]:
    """A world-readable folder (nginx workers are `nobody`) laid out like dl.k8s.io."""
    folder = Path(tempfile.mkdtemp(prefix="kubeferry-linespeed-"))
    folder.chmod(0o755)
    binary = folder / "www" / KUBECTL_PATH
    binary.parent.mkdir(parents=True)
    digest = hashlib.sha256()
    with binary.open("wb") as out:
        for _ in range(size_mb):
            block = os.urandom(MB)
            digest.update(block)
            out.write(block)
    (binary.parent / "kubectl.sha256").write_text(digest.hexdigest() + "\n")
    for path in [folder / "www", *(folder / "www").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (folder / "limited.conf").write_text(
        f"location /limited/ {{ alias {folder / 'www'}/; limit_rate 50m; }}\n"
    )
    return folder, digest.hexdigest()


def _wall(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and the last stdout line of one child process.

    The RSS comes from GNU time (`/usr/bin/time -f %M`): a child forked from this process
    would report this process's RSS as its floor.
    """
    with tempfile.NamedTemporaryFile() as rss, tempfile.TemporaryFile() as out:
        began = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *command],
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"{command[:4]} failed: {done.stderr.decode()[-400:]}")
        out.seek(0)
        lines = out.read().decode().strip().splitlines()
        peak_kb = int(Path(rss.name).read_text().split()[-1])
    return elapsed, peak_kb / 1024, lines[-1] if lines else ""


def _aria2c(work: Path, url: str, connections: int) -> list[str]:
    """aria2c fetching `url` over `connections` connections (8 MiB pieces, as kubeferry's)."""
    pieces = ["-k", "8M"] if connections > 1 else []
    return [
        "aria2c",
        "-q",
        *("-x", str(connections), "-s", str(connections), *pieces),
        *("-d", str(work), "-o", "a.bin", "--allow-overwrite=true", "--file-allocation=none"),
        url,
    ]


def _clients(base: str, work: Path, digest: str, limited: bool) -> dict[str, list[str]]:
    url = f"{base}/{'limited/' if limited else ''}{KUBECTL_PATH}"
    out = str(work / "out.bin")
    engine = [sys.executable, "-c", ENGINE, url, out, digest]
    clients = {
        "curl -o": ["curl", "-sf", "-o", out, url],
        "curl -o + sha256sum": ["sh", "-c", f'curl -sf -o "{out}" "{url}" && sha256sum "{out}"'],
        "aria2c -x 1": _aria2c(work, url, 1),
        "aria2c -x 4": _aria2c(work, url, 4),
        "kubeferry engine, 1 connection": [*engine, "1"],
        "kubeferry engine, 4 connections": [*engine, "4"],
    }
    if not limited:
        del clients["curl -o + sha256sum"]
    return clients


def _kubectl_get(base: str, work: Path, connections: int, limited: bool) -> tuple[list[str], dict]:
    home = work / "home"
    env = {**os.environ, "HOME": str(home)}
    env["KUBEFERRY_KUBECTL_MIRROR_URL"] = f"{base}{'/limited' if limited else ''}"
    command = [sys.executable, "-m", "kubeferry", "kubectl", "get", VERSION, "-q"]
    return [*command, "--connections", str(connections), "--arch", "amd64"], env


def _clean(work: Path) -> None:
    """Remove a client's output and flush the disk, untimed: this machine's file system discards
    deleted blocks at its next journal commit, and a client that syncs (kubeferry does, before
    the name appears) would otherwise wait for the previous client's discards."""
    for path in work.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    os.sync()


def run_rounds(base: str, work: Path, digest: str, *, limited: bool, rounds: int) -> dict:
    """Every client once per round; time (engine: its own transfer time) and peak RSS."""
    clients = _clients(base, work, digest, limited)
    cli = {f"`kubeferry kubectl get` --connections {n}": n for n in (1, 4)}
    times: dict[str, list[float]] = {name: [] for name in [*clients, *cli]}
    rss: dict[str, float] = {}
    for _ in range(rounds):
        for name, command in clients.items():
            elapsed, peak, last = _wall(command)
            if name.startswith("kubeferry engine"):  # its own transfer time, start-up excluded
                elapsed = float(last)
            times[name].append(elapsed)
            rss[name] = max(rss.get(name, 0.0), peak)
            _clean(work)
        for name, connections in cli.items():
            command, env = _kubectl_get(base, work, connections, limited)
            elapsed, peak, _ = _wall(command, env)
            times[name].append(elapsed)
            rss[name] = max(rss.get(name, 0.0), peak)
            _clean(work)
    return {"times": times, "rss": rss}


def summarize(result: dict, size_mb: int) -> list[dict]:
    """Per client: median time, MB/s, and the median (min-max) of curl's time / its time."""
    times = result["times"]
    curl = times["curl -o"]
    rows = []
    for name, values in times.items():
        ratios = [c / v for c, v in zip(curl, values, strict=True)]
        rows.append(
            {
                "client": name,
                "median_s": statistics.median(values),
                "MBps": size_mb / statistics.median(values),
                **ratio_summary(ratios),
                "rss": result["rss"].get(name, 0.0),
            }
        )
    return rows


def line_speed(size_mb: int, rounds: int, limited_rounds: int) -> dict:
    """Both servers, all clients; the served tree is removed afterwards."""
    compile_bytecode()  # as pip install leaves it: the command rows then time no compilation
    folder, digest = _serve_tree(size_mb)
    work = folder / "work"
    work.mkdir()
    try:
        with Nginx(folder / "www", folder / "nginx", folder / "limited.conf") as web:
            plain = run_rounds(web.url, work, digest, limited=False, rounds=rounds)
            print("unlimited", summarize(plain, size_mb), flush=True)
            limited = run_rounds(web.url, work, digest, limited=True, rounds=limited_rounds)
            print("limited", summarize(limited, size_mb), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"plain": summarize(plain, size_mb), "limited": summarize(limited, size_mb)}


def section(results: dict, size_mb: int, rounds: int, limited_rounds: int) -> str:
    """The RESULTS.md section."""
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    aria = subprocess.run(["aria2c", "--version"], capture_output=True, text=True).stdout
    lines = [
        "## Line speed: one file from nginx, kubeferry vs curl vs aria2c "
        "(`python benchmarks/downloads.py --line-speed --write-results`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores (shared with other "
        f"work), Python {sys.version.split()[0]}, {nginx.split(': ')[-1]}, "
        f"{aria.splitlines()[0] if aria else 'aria2c'}, loopback. One {size_mb} MB random file "
        "laid out as dl.k8s.io lays out kubectl, with its `.sha256`. Ratio = curl's time / the "
        "client's time in the same round (median, min-max); above 1.0x is faster than `curl -o`.",
        "",
    ]
    for key, title, count in (
        ("plain", "nginx as configured by tests/support/nginx.py (sendfile)", rounds),
        (
            "limited",
            "the same nginx with `limit_rate 50m;` (each connection limited)",
            limited_rounds,
        ),
    ):
        lines += [
            f"**{title}**, {count} rounds:",
            "",
            "| client | time (median) | throughput | ratio to `curl -o` | min-max | peak RSS |",
            "|---|---|---|---|---|---|",
        ]
        for row in results[key]:
            lines.append(
                f"| {row['client']} | {row['median_s']:.2f} s | {row['MBps']:.0f} MB/s "
                f"| {row['ratio']:.2f}x | {row['min']:.2f}x-{row['max']:.2f}x "
                f"| {row['rss']:.0f} MB |"
            )
        lines.append("")
    lines.append(NOTES)
    return "\n".join(lines)
