"""Hostile and broken files through the real CLI: links and FIFOs, unverified input, copies,
staged installs, leftovers, hostile JSON, kept catalogs, file modes and ASCII-only versions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, Result, child_environment
from tests.support.k3s import release_files, serve_release
from tests.support.sample import KUBECTL, STABLE, sample_upstream
from tests.support.upstream import LocalUpstream

KUBECTL_BYTES = b"kubectl stand-in " * 4096
GUARD = 30  # seconds: a FIFO must give an error, never a hang


@pytest.fixture(scope="module")
def upstream() -> Iterator[LocalUpstream]:
    with sample_upstream(KUBECTL_BYTES) as up:
        yield up


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, upstream: LocalUpstream) -> Path:
    """One small bundle (stable, amd64, kubectl 1.31 for linux), made through the CLI."""
    root = tmp_path_factory.mktemp("made")
    (root / "home").mkdir()
    cli = Cli(root / "home", child_environment(root / "home"))
    folder = root / "bundle"
    args = ("--k3s", "stable", "--kubectl", "1.31", "--arch", "amd64", "--os", "linux")
    result = cli("bundle", "create", str(folder), *args, env=upstream.environ())
    assert result.code == 0, result.stderr
    return folder


@pytest.fixture
def bundle(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(made, copy, symlinks=True)
    (copy / ".kubeferry.lock").unlink(missing_ok=True)
    return copy


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    return victim


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "RecursionError" not in text


@pytest.mark.parametrize("planted", [".kubectl1.31.9.part", ".kubectl1.31.9.part.json"])
def test_a_planted_part_link_is_refused_and_its_target_untouched(
    cli: Cli, upstream: LocalUpstream, tmp_path: Path, planted: str
) -> None:
    folder = cli.home / ".kuberlr" / "linux-amd64"
    folder.mkdir(parents=True)
    victim = _victim(tmp_path)
    (folder / planted).symlink_to(victim)
    result = cli(
        "kubectl", "get", KUBECTL, "--arch", "amd64", "--os", "linux", env=upstream.environ()
    )
    assert result.code == 1, result.stdout
    assert f"{folder / planted} is a symbolic link" in result.stderr
    _no_traceback(result.stderr)
    assert victim.read_text() == "precious\n"
    assert (folder / planted).is_symlink() and not (folder / "kubectl1.31.9").exists()


def test_a_manifest_that_is_a_link_is_refused(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    (bundle / "kubeferry-bundle.json").rename(real)
    (bundle / "kubeferry-bundle.json").symlink_to(real)
    for command in ("verify", "install"):
        result = cli("bundle", command, str(bundle))
        assert result.code == 1, result.stdout
        assert "kubeferry-bundle.json is a symbolic link" in result.stderr
        _no_traceback(result.stderr)
    assert not (cli.cache_dir / "k3s").exists()


def test_a_fifo_manifest_or_catalog_is_an_error_not_a_hang(cli: Cli, bundle: Path) -> None:
    (bundle / "k3s-versions.json").unlink()
    os.mkfifo(bundle / "k3s-versions.json")
    result = cli("bundle", "install", str(bundle), timeout=GUARD)
    assert result.code == 1 and "k3s-versions.json is not a regular file" in result.stderr
    manifest = bundle / "kubeferry-bundle.json"
    manifest.unlink()
    os.mkfifo(manifest)
    for command in ("verify", "install"):
        result = cli("bundle", command, str(bundle), timeout=GUARD)
        assert result.code == 1 and f"{manifest} is not a regular file" in result.stderr
    _no_traceback(result.stderr)


def test_a_catalog_left_out_of_the_manifest_is_not_used(cli: Cli, bundle: Path) -> None:
    manifest_path = bundle / "kubeferry-bundle.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "k3s-versions.json"]
    manifest_path.write_text(json.dumps(manifest))
    catalog = json.loads((bundle / "k3s-versions.json").read_text())
    catalog["versions"].append("v1.99.0+k3s1")
    catalog["channels"]["stable"] = "1.99.0"
    (bundle / "k3s-versions.json").write_text(json.dumps(catalog))
    result = cli("bundle", "install", str(bundle))
    assert result.code == 1
    assert "does not list k3s-versions.json" in result.stderr
    assert not (cli.cache_dir / "k3s-versions.json").exists()


def test_install_copies_unless_link_is_asked(cli: Cli, bundle: Path) -> None:
    result = cli("bundle", "install", str(bundle), "--arch", "amd64", "--os", "linux")
    assert result.code == 0, result.stderr
    placed = cli.cache_dir / "k3s" / STABLE / "k3s"
    source = bundle / "k3s" / STABLE / "k3s"
    original = placed.read_bytes()
    assert placed.stat().st_ino != source.stat().st_ino and placed.stat().st_nlink == 1
    with source.open("r+b") as handle:  # editing the bundle afterwards ...
        handle.write(b"XXXX")
    assert placed.read_bytes() == original  # ... leaves the cache alone

    other = cli.home / "linked-cache"
    source.write_bytes(original)
    linked = cli("--cache-dir", str(other), "bundle", "install", str(bundle), "--link")
    assert linked.code == 0, linked.stderr
    assert (other / "k3s" / STABLE / "k3s").stat().st_ino == source.stat().st_ino


def test_install_stages_a_new_version_and_replaces_a_killed_runs_leftover(
    cli: Cli, bundle: Path
) -> None:
    leftover = cli.cache_dir / "k3s" / f"tmp-{STABLE}-kubeferry-install"
    leftover.mkdir(parents=True)
    (leftover / "k3s").write_bytes(b"half a copy")
    listing = cli("cache", "list")
    assert f"install staging folder {leftover}" in listing.stdout
    result = cli("bundle", "install", str(bundle), "--json")
    assert result.code == 0, result.stderr
    assert not leftover.exists()
    names = sorted(p.name for p in (cli.cache_dir / "k3s").iterdir())
    assert names == [STABLE]
    verify = cli("cache", "verify", "--json")
    assert verify.code == 0 and verify.json()["leftovers"] == []


def test_leftovers_are_reported_and_cache_clean_removes_only_them(cli: Cli, bundle: Path) -> None:
    assert cli("bundle", "install", str(bundle)).code == 0
    k3s = cli.cache_dir / "k3s"
    staging = k3s / "tmp-v1.30.6+k3s1-kubeferry"
    staging.mkdir()
    (staging / ".k3s.part").write_bytes(b"x" * 100)
    part = k3s / STABLE / ".k3s-airgap-images-amd64.tar.part"
    part.write_bytes(b"y" * 10)
    kuberlr_part = cli.home / ".kuberlr" / "linux-amd64" / ".kubectl1.33.1.part"
    kuberlr_part.write_bytes(b"z")

    listing = cli("cache", "list")
    assert f"staging folder {staging}" in listing.stdout
    assert "resume with 'kubeferry cache add v1.30.6+k3s1'" in listing.stdout
    assert f"partial download {part}" in listing.stdout
    assert "resume with 'kubeferry cache verify --repair'" in listing.stdout
    assert "kubeferry cache clean" in listing.stdout
    verify = cli("cache", "verify")
    assert f"staging folder {staging}" in verify.stdout and verify.code == 0
    doctor = cli("doctor", "--quick", "--json")
    assert {item["path"] for item in doctor.json()["leftovers"]} == {
        str(staging),
        str(part),
        str(kuberlr_part),
    }
    assert any("kubeferry cache clean" in w for w in doctor.json()["warnings"])

    before = sorted(p for p in cli.cache_dir.rglob("*") if p not in (staging, part))
    cleaned = cli("cache", "clean", "--json")
    assert cleaned.code == 0, cleaned.stderr
    assert {item["path"] for item in cleaned.json()["removed"]} == {
        str(staging),
        str(part),
        str(kuberlr_part),
    }
    after = sorted(cli.cache_dir.rglob("*"))
    assert after == [p for p in before if not p.is_relative_to(staging)]
    assert cli("cache", "verify").code == 0


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "content, words",
    [
        (DEEP, "nested too deeply"),
        ('{"cacheVersion": 1, "versions": [' + "9" * 5000 + "]}", "not valid"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
    ],
    ids=["deep", "huge-integer", "not-utf8"],
)
def test_hostile_catalogs_give_errors_not_tracebacks(
    cli: Cli, tmp_path: Path, content: str | bytes, words: str
) -> None:
    catalog = cli.cache_dir / "k3s-versions.json"
    catalog.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        catalog.write_bytes(content)
    else:
        catalog.write_text(content)
    for args in (("versions",), ("cache", "list"), ("doctor", "--quick")):
        result = cli(*args)
        _no_traceback(result.stderr)
        assert words in result.stderr + result.stdout, args
    saved = tmp_path / "channels.json"
    saved.write_bytes(content if isinstance(content, bytes) else content.encode())
    converted = cli("catalog", "convert", "--channels", str(saved), "--releases", str(saved))
    assert converted.code == 1 and words in converted.stderr
    _no_traceback(converted.stderr)


def test_a_deeply_nested_manifest_is_an_error(cli: Cli, bundle: Path) -> None:
    (bundle / "kubeferry-bundle.json").write_text(DEEP)
    for command in ("verify", "install"):
        result = cli("bundle", command, str(bundle))
        assert result.code == 1 and "nested too deeply" in result.stderr
        _no_traceback(result.stderr)


def test_a_non_utf8_sums_file_names_its_url(cli: Cli, tmp_path: Path) -> None:
    files = release_files("v1.33.3+k3s1", "amd64")
    with LocalUpstream() as up:
        serve_release(up.state.files, files)
        url_path = "/k3s/v1.33.3+k3s1/sha256sum-amd64.txt"
        up.state.files[url_path] = b"\xff" * 70 + b"  k3s\n"
        result = cli("cache", "add", "stable", env=up.environ())
    assert result.code == 1
    assert f"{up.url}{url_path} is not UTF-8 text" in result.stderr
    _no_traceback(result.stderr)


def test_unreadable_catalogs_are_all_kept_and_new_files_are_0644(
    cli: Cli, upstream: LocalUpstream, bundle: Path
) -> None:
    catalog = cli.cache_dir / "k3s-versions.json"
    catalog.parent.mkdir(parents=True)
    for number, text in enumerate(("{ first", "{ second")):
        catalog.write_text(text)
        result = cli("catalog", "update", env=upstream.environ())
        assert result.code == 0, result.stderr
        kept = catalog.with_name("k3s-versions.json.unreadable" + (f".{number}" if number else ""))
        assert kept.read_text() == text
    umask = os.umask(0)
    os.umask(umask)
    expected = 0o644 & ~umask
    assert catalog.stat().st_mode & 0o777 == expected
    for name in ("k3s-versions.json", "kubeferry-bundle.json"):
        assert (bundle / name).stat().st_mode & 0o777 == expected


@pytest.mark.parametrize(
    "args", [("cache", "add", "v1.\u0663\u0662.7+k3s1"), ("kubectl", "get", "1.\u0663\u0662")]
)
def test_unicode_digits_are_not_versions(cli: Cli, upstream: LocalUpstream, args) -> None:
    result = cli(*args, env=upstream.environ())
    assert result.code != 0
    assert "\u0663\u0662" in result.stderr and "not" in result.stderr
    _no_traceback(result.stderr)


def _convert_into(cli: Cli, output: str) -> Result:
    """`catalog convert` of the saved upstream (tests/data) with `-o OUTPUT`."""
    data = Path(__file__).parent.parent / "data"
    channels, releases = str(data / "channels.json"), str(data / "releases.json")
    return cli("catalog", "convert", "--channels", channels, "--releases", releases, "-o", output)


def test_convert_into_a_new_folder_named_with_a_slash(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = _convert_into(cli, f"{target}/")
    assert result.code == 0, result.stderr
    assert json.loads((target / "k3s-versions.json").read_text())["cacheVersion"]
    assert ".tmp" not in result.stderr


def test_a_linked_file_inside_a_bundle_is_refused(cli: Cli, bundle: Path, tmp_path: Path) -> None:
    binary = bundle / "k3s" / STABLE / "k3s"
    real = tmp_path / "k3s-elsewhere"
    binary.rename(real)
    binary.symlink_to(real)  # same bytes, but through a link: refused all the same
    for command in ("verify", "install"):
        result = cli("bundle", command, str(bundle))
        assert result.code == 1 and f"{binary} is a symbolic link" in result.stderr
        _no_traceback(result.stderr)
    assert not (cli.cache_dir / "k3s").exists()


def test_a_catalog_too_large_to_be_one_is_an_error(cli: Cli) -> None:
    catalog = cli.cache_dir / "k3s-versions.json"
    catalog.parent.mkdir(parents=True)
    with catalog.open("wb") as handle:
        handle.truncate(65 * 1024 * 1024)  # sparse: no disk used
    result = cli("versions")
    assert "is larger than" in result.stderr + result.stdout
    _no_traceback(result.stderr)


def test_convert_onto_a_file_in_place_of_a_folder_names_the_destination(
    cli: Cli, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is expected")
    result = _convert_into(cli, f"{blocker}/")
    assert result.code == 1
    assert f"cannot write {blocker}/k3s-versions.json" in result.stderr
    assert ".tmp" not in result.stderr
    _no_traceback(result.stderr)


def test_a_bundle_on_read_only_media_installs_without_a_lock_file(
    cli: Cli, bundle: Path, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    for args in (["--bind", str(bundle)], ["-o", "remount,ro,bind"]):
        bound = subprocess.run(["mount", *args, str(media)], capture_output=True, check=False)
        if bound.returncode != 0:
            subprocess.run(["umount", "-l", str(media)], capture_output=True, check=False)
            pytest.skip(f"a read-only bind mount cannot be made here: {bound.stderr.decode()}")
    try:
        verify = cli("bundle", "verify", str(media))
        result = cli("bundle", "install", str(media))
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)
    assert verify.code == 0, verify.stderr
    assert result.code == 0, result.stderr
    assert (cli.cache_dir / "k3s" / STABLE / "k3s").is_file()
    assert not (bundle / ".kubeferry.lock").exists()


def test_bundle_create_refuses_a_linked_folder_inside_the_bundle(
    cli: Cli, upstream: LocalUpstream, tmp_path: Path
) -> None:
    folder = tmp_path / "new-bundle"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "k3s").mkdir(parents=True)
    (folder / "k3s" / STABLE).symlink_to(elsewhere, target_is_directory=True)
    args = ("--k3s", "stable", "--kubectl", "1.31", "--arch", "amd64", "--os", "linux")
    result = cli("bundle", "create", str(folder), *args, env=upstream.environ())
    assert result.code == 1
    assert f"{folder / 'k3s' / STABLE} is a symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []
