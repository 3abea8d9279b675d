"""Signed-bundle helpers for the tests: a small real bundle, keys made by openssl, openssl's view
of a signature (the judge independent of kubeferry)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

from tests.conftest import Cli, child_environment
from tests.support.k3s import github_release, release_files, serve_release
from tests.support.sample import sample_channels
from tests.support.upstream import LocalUpstream, UpstreamState

TAG = "v1.32.3+k3s1"
MANIFEST = "kubeferry-bundle.json"


def openssl_missing() -> str | None:
    return None if shutil.which("openssl") else "openssl is not installed (apt-get install openssl)"


def small_upstream() -> LocalUpstream:
    state = UpstreamState(channels=sample_channels())
    files = release_files(TAG, "amd64", images_size=50_000, with_tar=False)
    serve_release(state.files, files)
    state.releases.append(github_release(TAG, list(files.files)))
    return LocalUpstream(state)


def make_bundle(root: Path, name: str, *extra: str) -> Path:
    """A bundle made by the real CLI (k3s only, amd64); `extra` options go to `bundle create`."""
    home = root / f"{name}-maker"
    home.mkdir(exist_ok=True)
    maker = Cli(home, child_environment(home))
    folder = root / name
    with small_upstream() as upstream:
        made = maker(
            "bundle",
            "create",
            str(folder),
            "--k3s",
            "stable",
            "--arch",
            "amd64",
            "--kubectl",
            "none",
            *extra,
            env=upstream.environ(),
        )
    assert made.code == 0, made.stderr
    return folder


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def openssl_key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """An EC P-256 pair made by openssl alone: (private PEM, public PEM)."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", str(private))
    openssl("ec", "-in", str(private), "-pubout", "-out", str(public))
    return private, public


def openssl_fingerprint(public: Path) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, as openssl writes it."""
    der = openssl("pkey", "-pubin", "-in", str(public), "-outform", "DER")
    return hashlib.sha256(der).hexdigest()


def openssl_sign(private: Path, data_file: Path) -> str:
    """`openssl dgst -sha256 -sign`, base64 (what a signature file holds)."""
    return base64.b64encode(
        openssl("dgst", "-sha256", "-sign", str(private), str(data_file))
    ).decode()


def openssl_verifies(public: Path, data_file: Path, signature_file: Path, work: Path) -> bool:
    """The auditor's three lines: base64 -d, then openssl dgst -sha256 -verify."""
    der = work / "sig.der"
    der.write_bytes(base64.b64decode(signature_file.read_bytes()))
    done = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(public),
            "-signature",
            str(der),
            str(data_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and "Verified OK" in done.stdout
