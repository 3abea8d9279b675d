"""Which keys are trusted (flags, KUBEFERRY_TRUSTED_KEYS, the per-OS default folder), and the
signature file names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeferry.errors import KeyFileError
from kubeferry.verification.keys import Trust, default_keys_folder
from kubeferry.verification.trust import is_signature_name, signature_file_name


def test_default_folder_per_os(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "APPDATA": str(tmp_path / "Roaming")}
    linux = default_keys_folder(env, "linux")
    assert linux == tmp_path / ".config" / "kubeferry" / "trusted-keys"
    xdg = default_keys_folder({**env, "XDG_CONFIG_HOME": str(tmp_path / "x")}, "linux")
    assert xdg == tmp_path / "x" / "kubeferry" / "trusted-keys"
    mac = default_keys_folder(env, "darwin")
    assert mac == tmp_path / "Library" / "Application Support" / "kubeferry" / "trusted-keys"
    assert default_keys_folder(env, "win32") == tmp_path / "Roaming" / "kubeferry" / "trusted-keys"


def test_flags_replace_the_environment_and_the_folder(tmp_path: Path) -> None:
    folder = default_keys_folder({"HOME": str(tmp_path)})
    folder.mkdir(parents=True)
    (folder / "a.pub").write_text("x")
    (folder / "notes.txt").write_text("not a key name")
    env = {"HOME": str(tmp_path)}
    assert [p.name for p, _ in Trust(environ=env).key_files()] == ["a.pub"]
    given = tmp_path / "given.pub"
    assert Trust((given, given), environ=env).key_files() == [(given, "--key")]


def test_environment_lists_files_and_folders_and_refuses_a_typo(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "b.pem").write_text("x")
    (keys / "a.pub").write_text("x")
    single = tmp_path / "c.pub"
    single.write_text("x")
    listed = os.pathsep.join([str(keys), str(single)])
    found = Trust(environ={"KUBEFERRY_TRUSTED_KEYS": listed, "HOME": str(tmp_path)}).key_files()
    assert [p.name for p, _ in found] == ["a.pub", "b.pem", "c.pub"]
    typo = Trust(environ={"KUBEFERRY_TRUSTED_KEYS": str(tmp_path / "nope"), "HOME": "/"})
    with pytest.raises(KeyFileError, match="does not exist"):
        typo.key_files()


def test_signature_names_never_collide_between_keys() -> None:
    a, b = "ab" * 32, "cd" * 32
    assert signature_file_name(a) != signature_file_name(b)
    assert is_signature_name(signature_file_name(a))
    assert not is_signature_name("kubeferry-bundle.json.sig")
    assert not is_signature_name("kubeferry-bundle.json.ABCDEF0123456789.sig")
    assert not is_signature_name("../kubeferry-bundle.json.abcdef0123456789.sig")
