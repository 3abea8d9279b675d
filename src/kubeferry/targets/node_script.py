"""Running the release's own `install.sh` on a node, as k3s's air-gap page does, and keeping it
inside `--root` when there is one.

k3s's script (read at its tags) with `INSTALL_K3S_SKIP_DOWNLOAD=true` expects the binary in
`INSTALL_K3S_BIN_DIR`, writes `k3s-killall.sh`, `k3s-uninstall.sh` and the kubectl/crictl/ctr
links there, and `k3s.service` (+ `.env`) in `INSTALL_K3S_SYSTEMD_DIR`. Whatever those say it
also runs `systemctl disable k3s`, `rm -f /etc/systemd/system/k3s.service` (and `.env`),
`restorecon`, and on a host with `/sbin/openrc-run` writes `/etc/init.d`, `/etc/rancher/k3s`
and `/etc/logrotate.d` instead. Under `--root` it therefore runs:

- with `systemctl`, `restorecon`, `chcon` (and, when not root, `sudo`) stubbed first on PATH;
- in a private mount namespace (`unshare --mount`, with `--map-root-user` when not root) where
  ROOT's `etc/systemd/system` is bound over the host's `/etc/systemd/system` (its `rm -f` then
  hits ROOT's copy, which it writes again) and `/sbin/openrc-run` is masked by `/dev/null`, so
  it takes the systemd path into ROOT.

When no such namespace can be made the script is not run (the files stay placed) and the error
says how to run it in a chroot. Without `--root` it runs as k3s documents, on the real node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubeferry.errors import NodeError
from kubeferry.targets.node import BIN_DIR, SYSTEMD_DIR, K3sNode

MANAGED: Final = (
    "INSTALL_K3S_SKIP_DOWNLOAD",
    "INSTALL_K3S_VERSION",
    "INSTALL_K3S_BIN_DIR",
    "INSTALL_K3S_BIN_DIR_READ_ONLY",
    "KILLALL_K3S_SH",
    "UNINSTALL_K3S_SH",
)
"""Variables kubeferry decides (an inherited value could point the script elsewhere)."""
ROOTED: Final = ("INSTALL_K3S_SYSTEMD_DIR", "INSTALL_K3S_SKIP_ENABLE", "INSTALL_K3S_SKIP_START")
HOST_SYSTEMD: Final = Path("/etc/systemd/system")
_CONTAIN: Final = """set -e
if [ -d /etc/systemd/system ]; then mount --bind "$1" /etc/systemd/system; fi
if [ -e /sbin/openrc-run ]; then mount --bind /dev/null /sbin/openrc-run; fi
shift
exec sh "$@"
"""


@dataclass(frozen=True)
class ScriptOptions:
    """What passes through to the script: `--exec`, `--server`, `--token-file`, `--agent`."""

    exec_line: str | None = None
    server: str | None = None
    token_file: Path | None = None
    agent: bool = False

    def variables(self) -> dict[str, str]:
        """INSTALL_K3S_EXEC, K3S_URL, K3S_TOKEN_FILE as given (never a token itself)."""
        found: dict[str, str] = {}
        command = " ".join(part for part in ("agent" if self.agent else "", self.exec_line) if part)
        if command:
            found["INSTALL_K3S_EXEC"] = command
        if self.server:
            found["K3S_URL"] = self.server
        if self.token_file is not None:
            found["K3S_TOKEN_FILE"] = str(self.token_file)
        return found

    def check(self, rooted: bool) -> None:
        """Refuse what k3s's script would refuse, before anything is placed."""
        if self.server and not self.server.startswith("https://"):
            raise NodeError(
                f"--server {self.server} is not an https:// URL; k3s's install script accepts "
                "only https:// for K3S_URL. Give the server as https://HOST:6443."
            )
        if self.agent and not self.server:
            raise NodeError("--agent needs --server https://HOST:6443 (the server to join).")
        if self.server and self.token_file is None:
            raise NodeError(
                "--server needs --token-file FILE (the join token, read by k3s from that file; "
                "kubeferry never takes a token on the command line)."
            )
        if self.token_file is not None and not rooted and not self.token_file.is_file():
            raise NodeError(
                f"--token-file {self.token_file} does not exist; k3s reads the join token from "
                "it at every start. Write the token there (mode 0600) first.",
                path=self.token_file,
            )


def script_environment(
    node: K3sNode, options: ScriptOptions, base: Mapping[str, str], *, rooted: bool
) -> dict[str, str]:
    """The variables the script gets: the caller's, with kubeferry's decisions on top."""
    environ = {key: value for key, value in base.items() if key not in MANAGED}
    environ.update(
        INSTALL_K3S_SKIP_DOWNLOAD="true",
        INSTALL_K3S_VERSION=node.tag,
        INSTALL_K3S_BIN_DIR=str(node.root / BIN_DIR),
    )
    if rooted:
        for key in ROOTED:
            environ.pop(key, None)
        environ.update(
            INSTALL_K3S_SYSTEMD_DIR=str(node.root / SYSTEMD_DIR),
            INSTALL_K3S_SKIP_ENABLE="true",
            INSTALL_K3S_SKIP_START="true",
        )
    environ.update(options.variables())
    return environ


def shown_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The INSTALL_K3S_* and K3S_* variables of a run, for the report (no K3S_TOKEN value)."""
    shown = {
        key: ("<set>" if key in ("K3S_TOKEN", "K3S_AGENT_TOKEN") else value)
        for key, value in environ.items()
        if key.startswith(("INSTALL_K3S_", "K3S_"))
    }
    return dict(sorted(shown.items()))


def _stubs(folder: Path, *, as_root: bool) -> None:
    names = {"systemctl": "exit 0", "restorecon": "exit 0", "chcon": "exit 0"}
    if not as_root:
        names["sudo"] = 'exec "$@"'
    for name, body in names.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n# kubeferry node install --root: {name} is not run\n{body}\n")
        path.chmod(0o755)


def containment_problem() -> str | None:
    """Why a private mount namespace cannot be made here, or None when it can."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "the 'unshare' command (util-linux) is not installed"
    probe = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        probe.append("--map-root-user")
    try:
        done = subprocess.run([*probe, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"'unshare --mount' could not run ({exc})"
    if done.returncode != 0:
        return f"'unshare --mount' failed: {done.stderr.strip() or done.returncode}"
    return None


@dataclass(frozen=True)
class ScriptRun:
    """What the script printed and how it ended."""

    command: tuple[str, ...]
    returncode: int
    output: str


def run_install_script(
    node: K3sNode, options: ScriptOptions, base: Mapping[str, str], *, rooted: bool
) -> ScriptRun:
    """Run the placed install.sh; contained under `--root`. NodeError when it fails."""
    environ = script_environment(node, options, base, rooted=rooted)
    script = str(node.install_script)
    if not rooted:
        return _run(["sh", script], environ, node)
    problem = containment_problem()
    if problem is not None:
        raise NodeError(
            f"the install script was not run: under --root it must not touch the host "
            f"(it removes /etc/systemd/system/k3s.service whatever INSTALL_K3S_SYSTEMD_DIR "
            f"says), and {problem}. The files are placed under {node.root}; run the script "
            f"in a chroot of it instead: chroot {node.root} env INSTALL_K3S_SKIP_DOWNLOAD=true "
            f"INSTALL_K3S_VERSION={node.tag} INSTALL_K3S_SKIP_START=true sh "
            f"/{node.install_script.relative_to(node.root)}",
            path=node.root,
        )
    systemd = node.root / SYSTEMD_DIR
    systemd.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kubeferry-stubs-") as stubs:
        _stubs(Path(stubs), as_root=os.geteuid() == 0)
        environ["PATH"] = f"{stubs}{os.pathsep}{environ.get('PATH', os.defpath)}"
        command = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            command.append("--map-root-user")
        command += ["sh", "-c", _CONTAIN, "kubeferry-contain", str(systemd), script]
        return _run(command, environ, node)


def _run(command: list[str], environ: dict[str, str], node: K3sNode) -> ScriptRun:
    try:
        done = subprocess.run(
            command,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
    except OSError as exc:
        raise NodeError(
            f"could not run {node.install_script}: {exc}. The files are placed; run it with "
            f"INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_VERSION={node.tag} sh "
            f"{node.install_script}",
            path=node.install_script,
        ) from exc
    run = ScriptRun(tuple(command), done.returncode, done.stdout)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.strip().splitlines()[-8:])
        raise NodeError(
            f"{node.install_script} (k3s's install script of {node.tag}) failed with exit "
            f"code {done.returncode}; the files were placed and stay. Its last lines:\n{tail}\n"
            "Fix what it names and run 'kubeferry node install' again (placed files are kept).",
            path=node.install_script,
        )
    return run
