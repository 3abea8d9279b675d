"""Issue 18, cases 8 and 9: an encrypted client key never prompts; a cached version that fits
no local kubectl is asked again before the wrapper gives up. Side by side with real kubectl."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_wrapper_parity import _config
from tests.support.apiserver import ApiServer, Pki
from tests.support.side_by_side import assert_same_request, compare
from tests.support.wrapper import Wrapper

pytestmark = pytest.mark.kubectl


@pytest.fixture
def servers(pki: Pki) -> Iterator[dict[str, ApiServer]]:
    running = {"b": ApiServer(pki, "v1.29.0").__enter__()}
    yield running
    for server in running.values():
        server.stop()


def _on_a_terminal(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run with a controlling terminal (where OpenSSL would prompt); (exit code, output)."""
    controller, terminal = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(
        argv,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=take_terminal,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:
                    chunk = b""
                output += chunk
                if not chunk and child.poll() is not None:
                    break
            elif child.poll() is not None:
                break
        else:
            child.kill()
            pytest.fail(f"still running after {timeout} s (a prompt?): {output!r}")
    finally:
        os.close(controller)
    return child.wait(timeout=10), output.decode(errors="replace")


def test_encrypted_client_key_fails_fast_without_a_prompt(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
    tmp_path: Path,
) -> None:
    """Case 8: kubectl fails at once on a key under a pass phrase; the probe must not prompt."""
    key = tmp_path / "client.key"
    key.write_bytes(pki.pem("client.key"))
    user = {"client-certificate": str(pki.folder / "client.crt"), "client-key": str(key)}
    _config(wrapper, pki, servers["b"].url, user)
    learned = compare(wrapper, servers, real_kubectls)  # the cluster's version, once
    assert assert_same_request(learned, servers) == "b"
    key.write_bytes(pki.pem("client-enc.key"))
    env = {**wrapper.env, "KUBEFERRY_VERSION_CACHE_TTL": "0"}
    servers["b"].state.log.clear()
    words = ["version", "-o", "json"]
    code, output = _on_a_terminal([str(real_kubectls["1.31.9"]), *words], env, 30)
    assert code != 0 and servers["b"].state.log == []  # kubectl itself never got that far
    code, output = _on_a_terminal([str(wrapper.bin_dir / "kubectl"), *words], env, 30)
    assert "pass phrase" not in output.lower().replace("a pass phrase", "")
    lines = [line for line in output.splitlines() if line.startswith("kubeferry:")]
    assert len(lines) == 1, output
    assert "is encrypted" in lines[0]
    assert "chosen for the last known server version 1.29.0" in lines[0]  # the fallback rule
    assert servers["b"].state.asked_by("kubeferry") == []
    assert '"gitVersion": "v1.29.4"' in output  # a kubectl within one minor of the last known


def test_cached_version_that_fits_nothing_is_asked_again(
    wrapper: Wrapper,
    servers: dict[str, ApiServer],
    pki: Pki,
    real_kubectls: dict[str, Path],
) -> None:
    """Case 9: downloads off, the server at 1.26 (nothing local fits) is upgraded to 1.29:
    the very next call, within the cache's TTL, asks again and runs 1.29.4."""
    server = servers["b"]
    server.state.git_version = "v1.26.15"
    _config(wrapper, pki, server.url, {"token": "s3cret"})
    offline = {"KUBEFERRY_OFFLINE": "1"}
    first = wrapper("version", "-o", "json", env=offline)
    assert first.code == 255, first.stderr
    assert "no kubectl fits the server (Kubernetes 1.26.15)" in first.stderr
    server.state.git_version = "v1.29.0"
    compared = compare(wrapper, servers, real_kubectls, env=offline)
    assert assert_same_request(compared, servers) == "b"
    assert compared.ran == "v1.29.4"
