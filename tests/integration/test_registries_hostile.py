"""`registries write|check` and `doctor` on an odd override.yaml (issue 22, item 11): a FIFO, a
YAML alias bomb, duplicate keys, a read-only file; a numbered backup before any change."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import yaml

from tests.conftest import Cli

MIRROR = "registry.example:5000/mirror"
OVERRIDE = Path(".local/share/rancher-desktop/lima/_config/override.yaml")
# 391 bytes that expand to 9**9 strings with PyYAML's safe loader (minutes of CPU, gigabytes).
ALIAS_BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _override(cli: Cli, text: str | None = None) -> Path:
    path = cli.home / OVERRIDE
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        path.write_text(text)
    return path


def _write(cli: Cli) -> tuple[int, str, float]:
    started = time.monotonic()
    result = cli("registries", "write", "--mirror", MIRROR, "--os", "linux", timeout=30)
    return result.code, result.stderr, time.monotonic() - started


def test_fifo_is_refused_at_once_by_write_check_and_doctor(cli: Cli) -> None:
    path = _override(cli)
    os.mkfifo(path)
    code, stderr, took = _write(cli)
    assert code == 1 and "not a regular file" in stderr and str(path) in stderr
    assert took < 20 and stat.S_ISFIFO(os.lstat(path).st_mode)  # still the FIFO, untouched
    assert not list(path.parent.glob("*.kubeferry-backup.*"))
    check = cli("registries", "check", "--os", "linux", "--json", timeout=30)
    problems = [item["problems"] for item in check.json() if item["path"] == str(path)]
    assert check.code == 1 and problems and "not a regular file" in problems[0][0]
    doctor = cli("doctor", "--os", "linux", "--json", timeout=60)
    assert "not a regular file" in doctor.stdout, doctor.stdout + doctor.stderr


def test_alias_bomb_is_refused_in_well_under_a_second_of_work(cli: Cli) -> None:
    path = _override(cli, ALIAS_BOMB)
    code, stderr, took = _write(cli)
    assert code == 1 and "alias" in stderr and took < 10
    assert path.read_text() == ALIAS_BOMB
    assert (path.parent / "override.yaml.kubeferry-backup.1").read_text() == ALIAS_BOMB
    check = cli("registries", "check", "--os", "linux", timeout=30)
    assert check.code == 1 and "alias" in check.stdout + check.stderr


def test_duplicate_keys_are_refused_with_the_key_named(cli: Cli) -> None:
    text = "cpus: 4\nmemory: 4GiB\ncpus: 8\n"
    path = _override(cli, text)
    code, stderr, _ = _write(cli)
    assert code == 1 and "'cpus' twice (lines 1 and 3)" in stderr
    assert path.read_text() == text
    assert (path.parent / "override.yaml.kubeferry-backup.1").read_text() == text


def test_read_only_file_is_refused_not_replaced(cli: Cli) -> None:
    text = "cpus: 4\n"
    path = _override(cli, text)
    path.chmod(0o444)
    before = os.lstat(path)
    code, stderr, _ = _write(cli)
    assert code == 1 and "read-only (mode 0444)" in stderr
    after = os.lstat(path)
    assert (after.st_ino, stat.S_IMODE(after.st_mode)) == (before.st_ino, 0o444)
    assert path.read_text() == text


def test_a_change_keeps_a_numbered_backup_and_the_permissions(cli: Cli) -> None:
    first = "cpus: 4\n"
    path = _override(cli, first)
    path.chmod(0o640)
    code, stderr, _ = _write(cli)
    assert code == 0, stderr
    assert (path.parent / "override.yaml.kubeferry-backup.1").read_text() == first
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o640
    assert yaml.safe_load(path.read_text())["cpus"] == 4
    code, stderr, _ = _write(cli)  # nothing changes: no second backup
    assert code == 0 and not (path.parent / "override.yaml.kubeferry-backup.2").exists()
    path.write_text("cpus: 6\n")  # the user dropped kubeferry's entry: the next write restores it
    assert _write(cli)[0] == 0
    assert (path.parent / "override.yaml.kubeferry-backup.2").read_text() == "cpus: 6\n"
    assert yaml.safe_load(path.read_text())["provision"]
