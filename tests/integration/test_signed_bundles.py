"""Signed bundles: keys, signatures openssl agrees with (both ways), trust, and every tampering
case refused with nothing placed or served."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli, child_environment
from tests.support.signing import (
    MANIFEST,
    TAG,
    make_bundle,
    openssl_fingerprint,
    openssl_key_pair,
    openssl_missing,
    openssl_sign,
    openssl_verifies,
    small_upstream,
)

pytestmark = pytest.mark.skipif(openssl_missing() is not None, reason=str(openssl_missing()))
K3S = f"k3s/{TAG}/k3s"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("signed"), "bundle")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key pair made by `kubeferry keys generate` (not encrypted)."""
    folder = tmp_path_factory.mktemp("keys") / "signer"
    home = folder.parent / "home"
    home.mkdir()
    result = Cli(home, child_environment(home))("keys", "generate", str(folder), "--json")
    assert result.code == 0, result.stderr
    return folder


def _copy(made: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(made, target)
    return target


def _signature(folder: Path) -> Path:
    found = sorted(folder.glob(f"{MANIFEST}.*.sig"))
    assert len(found) == 1, found
    return found[0]


def _nothing_placed(cli: Cli) -> None:
    assert not (cli.cache_dir / "k3s").exists()


def test_generate_writes_a_standard_pem_pair_openssl_reads(keys: Path, cli: Cli) -> None:
    private, public = keys / "kubeferry.key", keys / "kubeferry.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    text = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "prime256v1" in text or "P-256" in text
    again = cli("keys", "generate", str(keys))
    assert again.code == 1 and "already exists" in again.stderr  # never replaced


def test_generate_prints_the_fingerprint_openssl_computes(tmp_path: Path, cli: Cli) -> None:
    result = cli("keys", "generate", str(tmp_path / "k"), "--json")
    assert result.code == 0, result.stderr
    assert result.json()["fingerprint"] == openssl_fingerprint(tmp_path / "k" / "kubeferry.pub")


def test_openssl_verifies_the_signature_kubeferry_wrote(
    made: Path, keys: Path, cli: Cli, tmp_path: Path
) -> None:
    bundle = _copy(made, tmp_path)
    result = cli("bundle", "sign", str(bundle), "--key", str(keys / "kubeferry.key"), "--json")
    assert result.code == 0, result.stderr
    signature = _signature(bundle)
    fingerprint = openssl_fingerprint(keys / "kubeferry.pub")
    assert signature.name == f"{MANIFEST}.{fingerprint[:16]}.sig"
    assert openssl_verifies(keys / "kubeferry.pub", bundle / MANIFEST, signature, tmp_path)
    (bundle / MANIFEST).write_bytes((bundle / MANIFEST).read_bytes() + b" ")
    assert not openssl_verifies(keys / "kubeferry.pub", bundle / MANIFEST, signature, tmp_path)


def test_kubeferry_verifies_a_signature_openssl_wrote(made: Path, cli: Cli, tmp_path: Path) -> None:
    bundle = _copy(made, tmp_path)
    private, public = openssl_key_pair(tmp_path / "openssl", "auditor")
    fingerprint = openssl_fingerprint(public)
    signature = bundle / f"{MANIFEST}.{fingerprint[:16]}.sig"
    signature.write_text(openssl_sign(private, bundle / MANIFEST))
    result = cli("bundle", "verify", str(bundle), "--key", str(public), "--json")
    assert result.code == 0, result.stdout + result.stderr
    signed = result.json()["signatures"]["signed_by"]
    assert signed == [{"fingerprint": fingerprint, "key_file": "auditor.pub"}]
    assert result.json()["unlisted"] == []  # the signature is beside the manifest, not in it
    text = cli("bundle", "inspect", str(bundle), "--key", str(public))
    assert text.code == 0 and f"signed by {fingerprint} (auditor.pub)" in text.stdout


def test_encrypted_key_needs_its_passphrase(made: Path, cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    made_keys = cli("keys", "generate", str(folder), "--password-stdin", stdin="s3cret word\n")
    assert made_keys.code == 0, made_keys.stderr
    private = folder / "kubeferry.key"
    assert "ENCRYPTED PRIVATE KEY" in private.read_text()
    openssl_reads = subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-passin", "pass:s3cret word", "-noout"],
        capture_output=True,
        check=False,
    )
    assert openssl_reads.returncode == 0
    bundle = _copy(made, tmp_path)
    bare = cli("bundle", "sign", str(bundle), "--key", str(private))
    assert bare.code == 1 and "--password-stdin" in bare.stderr and "Traceback" not in bare.stderr
    wrong = cli(
        "bundle", "sign", str(bundle), "--key", str(private), env={"KUBEFERRY_KEY_PASSWORD": "nope"}
    )
    assert wrong.code == 1 and "passphrase is wrong" in wrong.stderr
    assert not list(bundle.glob("*.sig"))
    good = cli(
        "bundle",
        "sign",
        str(bundle),
        "--key",
        str(private),
        "--password-stdin",
        stdin="s3cret word\n",
    )
    assert good.code == 0, good.stderr
    assert openssl_verifies(
        folder / "kubeferry.pub", bundle / MANIFEST, _signature(bundle), tmp_path
    )


def test_unsigned_bundle_refused_when_a_key_is_trusted(
    made: Path, keys: Path, cli: Cli, tmp_path: Path
) -> None:
    bundle = _copy(made, tmp_path)
    public = str(keys / "kubeferry.pub")
    refused = cli("bundle", "install", str(bundle), "--key", public, "--arch", "amd64")
    assert refused.code == 1
    assert str(bundle) in refused.stderr and "kubeferry.pub" in refused.stderr
    assert "kubeferry bundle sign" in refused.stderr and "--allow-unsigned" in refused.stderr
    _nothing_placed(cli)
    allowed = cli(
        "bundle", "install", str(bundle), "--key", public, "--allow-unsigned", "--arch", "amd64"
    )
    assert allowed.code == 0, allowed.stderr
    assert (cli.cache_dir / K3S).is_file()


def test_signed_bundle_installs_and_says_who_signed(
    made: Path, keys: Path, cli: Cli, tmp_path: Path
) -> None:
    bundle = _copy(made, tmp_path)
    assert cli("bundle", "sign", str(bundle), "--key", str(keys / "kubeferry.key")).code == 0
    result = cli(
        "bundle", "install", str(bundle), "--key", str(keys / "kubeferry.pub"), "--arch", "amd64"
    )
    assert result.code == 0, result.stderr
    assert "signed by" in result.stderr and "kubeferry.pub" in result.stderr
    assert (cli.cache_dir / K3S).is_file()


def _tamper(case: str, bundle: Path, keys: Path, other: Path, tmp_path: Path, cli: Cli) -> None:
    signer = str(keys / "kubeferry.key")
    if case == "untrusted key":
        stranger = tmp_path / "stranger"
        assert cli("keys", "generate", str(stranger)).code == 0
        assert (
            cli("bundle", "sign", str(bundle), "--key", str(stranger / "kubeferry.key")).code == 0
        )
        return
    if case == "copied from another bundle":
        assert cli("bundle", "sign", str(other), "--key", signer).code == 0
        shutil.copy(_signature(other), bundle / _signature(other).name)
        return
    assert cli("bundle", "sign", str(bundle), "--key", signer).code == 0
    signature = _signature(bundle)
    if case == "file changed":
        with (bundle / K3S).open("r+b") as stream:
            stream.write(b"\x7fELX")
    elif case == "manifest re-hashed":
        (bundle / K3S).write_bytes(b"#!/bin/sh\necho owned\n")
        import hashlib

        document = json.loads((bundle / MANIFEST).read_text())
        for entry in document["files"]:
            if entry["path"] == K3S:
                entry["size"] = (bundle / K3S).stat().st_size
                entry["sha256"] = hashlib.sha256((bundle / K3S).read_bytes()).hexdigest()
        (bundle / MANIFEST).write_text(json.dumps(document, indent=2) + "\n")
    elif case == "truncated signature":
        signature.write_text(signature.read_text()[:40])
    elif case == "not base64":
        signature.write_text("this is not base64 at all!\n")


@pytest.mark.parametrize(
    "case",
    [
        "file changed",
        "manifest re-hashed",
        "untrusted key",
        "truncated signature",
        "not base64",
        "copied from another bundle",
    ],
)
def test_tampered_bundle_is_refused_with_nothing_placed(
    case: str, made: Path, keys: Path, cli: Cli, tmp_path: Path
) -> None:
    bundle = _copy(made, tmp_path)
    other = make_bundle(tmp_path, "other") if case == "copied from another bundle" else bundle
    _tamper(case, bundle, keys, other, tmp_path, cli)
    public = str(keys / "kubeferry.pub")
    result = cli("bundle", "install", str(bundle), "--key", public, "--arch", "amd64")
    assert result.code == 1, result.stdout
    assert str(bundle) in result.stderr and "Traceback" not in result.stderr
    _nothing_placed(cli)
    verified = cli("bundle", "verify", str(bundle), "--key", public)
    assert verified.code == 1
    if case != "file changed":  # signed right: the mirror refuses that file per request (503)
        served = cli("mirror", "serve", str(bundle), "--listen", "127.0.0.1:0", "--key", public)
        assert served.code == 1 and "serving at" not in served.stdout
    export = tmp_path / "export"
    exported = cli("mirror", "export", str(bundle), str(export), "--key", public)
    assert exported.code == 1 and not export.exists()


def test_two_signatures_one_valid_is_accepted_and_named(
    made: Path, keys: Path, cli: Cli, tmp_path: Path
) -> None:
    bundle = _copy(made, tmp_path)
    stranger = tmp_path / "stranger"
    assert cli("keys", "generate", str(stranger)).code == 0
    for key in (stranger / "kubeferry.key", keys / "kubeferry.key"):
        assert cli("bundle", "sign", str(bundle), "--key", str(key)).code == 0
    assert len(list(bundle.glob("*.sig"))) == 2  # side by side, no collision
    public = keys / "kubeferry.pub"
    result = cli("bundle", "verify", str(bundle), "--key", str(public))
    assert result.code == 0, result.stdout
    assert f"signed by {openssl_fingerprint(public)} (kubeferry.pub)" in result.stdout
    assert "not made by a trusted key" in result.stdout
    installed = cli("bundle", "install", str(bundle), "--key", str(public), "--arch", "amd64")
    assert installed.code == 0, installed.stderr
    assert openssl_fingerprint(public) in installed.stderr


@pytest.mark.parametrize("content", ["private", "garbage", "certificate-less text"])
def test_a_trusted_key_that_is_not_a_public_key_is_a_clear_error(
    content: str, made: Path, keys: Path, cli: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.pub"
    if content == "private":
        shutil.copy(keys / "kubeferry.key", bad)
    else:
        bad.write_text(
            "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"
            if content == "garbage"
            else "hello\n"
        )
    result = cli("bundle", "install", str(made), "--key", str(bad), "--arch", "amd64")
    assert result.code == 1 and "Traceback" not in result.stderr
    assert str(bad) in result.stderr
    assert ("private key" if content == "private" else "not a PEM public key") in result.stderr
    _nothing_placed(cli)


def test_trusted_keys_from_the_environment_and_the_default_folder(
    made: Path, keys: Path, cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    folder = config / "kubeferry" / "trusted-keys"
    folder.mkdir(parents=True)
    shutil.copy(keys / "kubeferry.pub", folder / "platform-team.pub")
    env = {"XDG_CONFIG_HOME": str(config)}
    refused = cli("bundle", "install", str(made), "--arch", "amd64", env=env)
    assert refused.code == 1 and "platform-team.pub" in refused.stderr
    listed = {"KUBEFERRY_TRUSTED_KEYS": os.pathsep.join([str(folder), str(tmp_path / "typo")])}
    typo = cli("bundle", "verify", str(made), env=listed)
    assert typo.code == 1 and "typo" in typo.stderr and "does not exist" in typo.stderr
    bundle = _copy(made, tmp_path)
    assert cli("bundle", "sign", str(bundle), "--key", str(keys / "kubeferry.key")).code == 0
    ok = cli("bundle", "install", str(bundle), "--arch", "amd64", env=env)
    assert ok.code == 0, ok.stderr
    by_env = {"KUBEFERRY_TRUSTED_KEYS": str(folder / "platform-team.pub")}
    assert cli("bundle", "verify", str(bundle), env=by_env).code == 0
    assert cli("bundle", "verify", str(made), env=by_env).code == 1


def test_mirror_serve_refuses_an_unsigned_bundle_and_does_not_start(
    made: Path, keys: Path, cli: Cli
) -> None:
    result = cli(
        "mirror",
        "serve",
        str(made),
        "--listen",
        "127.0.0.1:0",
        "--key",
        str(keys / "kubeferry.pub"),
        timeout=30,
    )
    assert result.code == 1
    assert "serving at" not in result.stdout
    assert str(made) in result.stderr and "mirror did not start" in result.stderr


def test_create_signs_and_refuses_a_folder_with_unrelated_files(
    keys: Path, cli: Cli, tmp_path: Path
) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "holiday.jpg").write_bytes(b"not a bundle file")
    args = (
        "bundle",
        "create",
        str(busy),
        "--k3s",
        "stable",
        "--arch",
        "amd64",
        "--kubectl",
        "none",
    )
    with small_upstream() as upstream:
        refused = cli(*args, env=upstream.environ())
        assert refused.code == 1 and "holiday.jpg" in refused.stderr and "--force" in refused.stderr
        assert not (busy / "k3s").exists()
        signed = cli(
            *args,
            "--force",
            "--sign-key",
            str(keys / "kubeferry.key"),
            "--json",
            env=upstream.environ(),
        )
    assert signed.code == 0, signed.stderr
    signature = Path(signed.json()["signature"])
    assert openssl_verifies(keys / "kubeferry.pub", busy / MANIFEST, signature, tmp_path)
