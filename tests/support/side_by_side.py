"""Real kubectl and the wrapper run side by side against logging API servers.

`compare()` runs a real kubectl (1.31.9 unless told) with the arguments, then the wrapper with
the same arguments and environment, and returns what each asked: the servers' request logs
split by User-Agent (kubectl's own `kubectl/v1...`, the wrapper's probe `kubeferry-kubectl`),
and the kubectl the wrapper ran. `assert_same_request()` holds the issue-18 rule: the probe
asked the server kubectl asked, for the same path, with the same credentials, and the wrapper
ran a kubectl within one minor of that server.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Result
from tests.support.apiserver import ApiServer, Request
from tests.support.wrapper import Wrapper

VERSION = ("version", "-o", "json")


@dataclass
class Compared:
    kubectl: list[tuple[str, Request]]  # (server name, request) that real kubectl made
    probe: list[tuple[str, Request]]  # the wrapper's own requests
    ran_by_wrapper: list[tuple[str, Request]]  # the requests of the kubectl the wrapper ran
    direct: Result
    wrapped: Result

    @property
    def ran(self) -> str | None:
        """gitVersion of the kubectl the wrapper ran (from its `version -o json`)."""
        try:
            return str(json.loads(self.wrapped.stdout)["clientVersion"]["gitVersion"])
        except (ValueError, KeyError):
            return None


def _logs(servers: dict[str, ApiServer], agent: str) -> list[tuple[str, Request]]:
    return [(name, r) for name, server in servers.items() for r in server.state.asked_by(agent)]


def run_kubectl(
    binary: Path, words: list[str], env: dict[str, str], stdin: Any = subprocess.DEVNULL
) -> Result:
    done = subprocess.run(
        [str(binary), *words],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=stdin,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def compare(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    kubectls: dict[str, Path],
    *,
    before: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    kubectl: str = "1.31.9",
) -> Compared:
    """Run `kubectl BEFORE version -o json AFTER` directly, then through the wrapper."""
    words = [*before, *VERSION, *after]
    for server in servers.values():
        server.state.log.clear()
    direct = run_kubectl(kubectls[kubectl], words, {**wrapper.env, **(env or {})})
    asked = _logs(servers, "kubectl")
    for server in servers.values():
        server.state.log.clear()
    wrapped = wrapper(*words, env=env)
    return Compared(asked, _logs(servers, "kubeferry"), _logs(servers, "kubectl"), direct, wrapped)


def _minor(git_version: str) -> int:
    return int(git_version.lstrip("v").split(".")[1])


def assert_same_request(compared: Compared, servers: dict[str, ApiServer]) -> str:
    """The probe asked what kubectl asked; the kubectl run fits that server. Returns its name."""
    assert compared.kubectl, f"kubectl asked no server: {compared.direct.stderr}"
    assert len(compared.probe) == 1, (compared.probe, compared.wrapped.stderr)
    name, theirs = compared.kubectl[0]
    ours_name, ours = compared.probe[0]
    assert ours_name == name, f"the probe asked {ours_name}, kubectl asked {name}"
    assert ours.path == theirs.path
    assert ours.credentials() == theirs.credentials(), (ours, theirs)
    assert compared.wrapped.code == compared.direct.code, compared.wrapped.stderr
    ran = compared.ran
    assert ran is not None, compared.wrapped.stderr
    server_minor = _minor(servers[name].state.git_version)
    assert abs(_minor(ran) - server_minor) <= 1, f"ran {ran} for {servers[name].state.git_version}"
    assert _minor(ran) == server_minor  # all three minors are local: the server's own wins
    assert [n for n, _ in compared.ran_by_wrapper] == [name], compared.ran_by_wrapper
    return name
