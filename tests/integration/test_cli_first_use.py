"""The CLI as a newcomer meets it: version, completion, help that teaches, clear refusals."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import click
import pytest

from tests.conftest import Cli


def test_bare_kubeferry_prints_help_and_succeeds(cli: Cli) -> None:
    result = cli()
    assert result.code == 0
    assert "Commands:" in result.stdout and "Environment:" in result.stdout


def test_version_text_and_json(cli: Cli) -> None:
    text = cli("version")
    assert text.code == 0, text.stderr
    assert text.stdout.startswith("kubeferry ")
    assert str(cli.home / ".kuberlr" / "linux-amd64") in text.stdout or "kuberlr" in text.stdout
    data = cli("version", "-o", "json").json()
    assert data["cache_dir"] == str(cli.cache_dir)
    assert data["kuberlr_dirs"][0].startswith(str(cli.home / ".kuberlr"))
    assert any(c["path"].endswith("kuberlr.conf") for c in data["kuberlr_configs"])
    assert cli("version", "--json").json()["version"] == data["version"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")],
)
def test_completion_scripts(cli: Cli, shell: str, marker: str) -> None:
    result = cli("completion", shell)
    assert result.code == 0, result.stderr
    assert marker in result.stdout and "_KUBEFERRY_COMPLETE" in result.stdout


def test_completion_completes_commands(cli: Cli) -> None:
    env = {"_KUBEFERRY_COMPLETE": "bash_complete", "COMP_WORDS": "kubeferry bun", "COMP_CWORD": "1"}
    result = cli(env=env)
    assert "bundle" in result.stdout


def test_unknown_shell_is_a_usage_error(cli: Cli) -> None:
    result = cli("completion", "tcsh")
    assert result.code == 2 and "tcsh" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("bundle", "create"),
        ("bundle", "inspect"),
        ("cache", "add"),
        ("kubectl", "get"),
        ("kubectl", "remove"),
        ("shim", "uninstall"),
        ("version",),
        ("versions",),
        ("doctor",),
    ],
)
def test_help_teaches(cli: Cli, command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0, result.stderr
    assert "Examples:" in result.stdout
    assert f"kubeferry {' '.join(command)}" in result.stdout.split("Examples:")[1]
    assert "Global options" in result.stdout or command == ("completion",)


def test_bundle_create_help_lists_arch_os_and_environment(cli: Cli) -> None:
    out = cli("bundle", "create", "--help").stdout
    globals_part = out.split("Global options")[1]
    for option in ("--arch", "--os", "--cache-dir", "--home", "--offline", "-v", "-q"):
        assert option in globals_part
    assert "KUBEFERRY_OFFLINE" in out and "KUBEFERRY_MIRROR" in out


def test_bundle_push_help_lists_only_the_variables_a_push_reads(cli: Cli) -> None:
    push = cli("bundle", "push", "--help").stdout.split("Environment:")[1]
    assert "KUBEFERRY_OFFLINE" in push
    for unused in ("KUBEFERRY_MIRROR", "KUBEFERRY_KUBECTL_MIRROR_URL", "KUBERLR_KUBEMIRRORURL"):
        assert unused not in push
    verify = cli("bundle", "verify", "--help").stdout.split("Environment:")[1]
    assert "KUBEFERRY_TRUSTED_KEYS" in verify and "KUBEFERRY_OFFLINE" not in verify
    create = cli("bundle", "create", "--help").stdout.split("Environment:")[1]
    assert "KUBEFERRY_KUBECTL_MIRROR_URL" in create  # the group's list still holds for create


def test_group_summaries_name_every_subcommand() -> None:
    from kubeferry.cli import SUMMARIES
    from kubeferry.cli import cli as root

    for name, summary in SUMMARIES.items():
        group = root.get_command(click.Context(root), name)
        if not isinstance(group, click.Group) or ": " not in summary:
            continue
        listed = set(summary.split(": ", 1)[1].rstrip(".").split(", "))
        assert listed == set(group.commands), name


def test_group_help_descriptions_are_whole(cli: Cli) -> None:
    out = cli("bundle", "--help").stdout.split("Commands:")[1]
    assert "..." not in out and "…" not in out
    assert "Rancher Desktop cache and the kuberlr folder" in " ".join(out.split())


def test_root_help_lists_every_variable_the_code_reads(cli: Cli) -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "kubeferry"
    names = set()
    for path in source.rglob("*.py"):
        names |= set(re.findall(r"\b(KUBE(?:FERRY|RLR)_[A-Z_]+[A-Z])\b", path.read_text()))
    internal = {  # not for users: the wrapper hands KUBEFERRY_REFRESH_FLAGS to its own refresher
        "KUBERLR_FOLDER",
        "KUBERLR_RESOLVING_VERSION",
        "KUBEFERRY_REGISTRIES_EOF",
        "KUBEFERRY_REFRESH_FLAGS",
    }
    documented = cli("--help").stdout
    missing = sorted(n for n in names - internal if n not in documented)
    assert missing == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KUBEFERRY_OFFLINE", "banana"),
        ("KUBEFERRY_VERSION_CACHE_TTL", "soon"),
        ("KUBEFERRY_REVALIDATE_AFTER", "-1"),
        ("KUBEFERRY_MIRROR", "mirror.lan"),
        ("KUBEFERRY_KUBECTL_MIRROR_URL", "ftp://x"),
        ("KUBERLR_ALLOWDOWNLOAD", "maybe"),
        ("KUBERLR_TIMEOUT", "0"),
    ],
)
def test_bad_variables_are_usage_errors_naming_them(cli: Cli, variable: str, value: str) -> None:
    result = cli("versions", env={variable: value})
    assert result.code == 2
    assert variable in result.stderr and "Traceback" not in result.stderr


def test_good_offline_words_are_accepted(cli: Cli) -> None:
    for value in ("1", "true", "yes", "on", "0", "off"):
        assert cli("versions", "--json", env={"KUBEFERRY_OFFLINE": value}).code == 0


def test_output_json_and_refusal_of_other_formats(cli: Cli) -> None:
    assert cli("cache", "list", "-o", "json").json()["versions"] == []
    assert cli("cache", "list", "--output=json").json()["versions"] == []
    assert cli("cache", "list", "-ojson").json()["versions"] == []
    refused = cli("cache", "list", "-o", "yaml")
    assert refused.code == 2 and "only json" in refused.stderr


def test_tracebacks_only_with_debug(cli: Cli) -> None:
    plain = cli("cache", "remove", "v1.30.6+k3s1")
    assert plain.code == 1 and "Traceback" not in plain.stderr
    assert "Traceback" not in cli("-v", "cache", "remove", "v1.30.6+k3s1").stderr
    debug = cli("--debug", "cache", "remove", "v1.30.6+k3s1")
    assert debug.code == 1 and "Traceback" in debug.stderr


def _launcher_dir(cli: Cli) -> Path:
    return cli.home / ".local" / "bin"


def test_shim_install_then_uninstall(cli: Cli) -> None:
    assert cli("shim", "install").code == 0
    launcher = _launcher_dir(cli) / "kubectl"
    assert launcher.is_file()
    removed = cli("shim", "uninstall", "--json")
    assert removed.code == 0, removed.stderr
    assert removed.json()["action"] == "removed" and not launcher.exists()
    again = cli("shim", "uninstall", "--json")
    assert again.code == 0 and again.json()["action"] == "absent"


def test_shim_uninstall_leaves_a_foreign_kubectl(cli: Cli) -> None:
    folder = _launcher_dir(cli)
    folder.mkdir(parents=True)
    foreign = folder / "kubectl"
    foreign.write_text("#!/bin/sh\necho kubeferry is mentioned but this is not ours\n")
    result = cli("shim", "uninstall")
    assert result.code == 1
    assert str(foreign) in result.stderr and "left untouched" in result.stderr
    assert foreign.exists()


def test_shim_uninstall_does_not_follow_a_link(cli: Cli, tmp_path: Path) -> None:
    cli("shim", "install", "--dir", str(tmp_path / "real"))
    folder = _launcher_dir(cli)
    folder.mkdir(parents=True)
    (folder / "kubectl").symlink_to(tmp_path / "real" / "kubectl")
    assert cli("shim", "uninstall").code == 1
    assert (tmp_path / "real" / "kubectl").exists()


def test_shim_install_for_windows_is_refused_clearly_here(cli: Cli) -> None:
    result = cli("shim", "install", "--os", "windows")
    assert result.code == 1
    assert "windows" in result.stderr and "shim install' there" in result.stderr
    assert not _launcher_dir(cli).exists()


def test_kubectl_remove(cli: Cli) -> None:
    folder = cli.home / ".kuberlr" / "linux-amd64"
    folder.mkdir(parents=True)
    (folder / "kubectl1.30.6").write_bytes(b"x")
    (folder / "kubectl1.31.2").write_bytes(b"y")
    result = cli("kubectl", "remove", "1.30.6", "--arch", "amd64", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["removed"] == [str(folder / "kubectl1.30.6")]
    assert not (folder / "kubectl1.30.6").exists() and (folder / "kubectl1.31.2").exists()
    missing = cli("kubectl", "remove", "1.29.0", "--arch", "amd64")
    assert missing.code == 1 and "no kubectl 1.29.0" in missing.stderr
    bad = cli("kubectl", "remove", "latest", "--arch", "amd64")
    assert bad.code == 2 and "1.30.6" in bad.stderr


def _manifest_entry(path: str, data: bytes) -> dict:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "url": ""}


def test_bundle_inspect_reports_coverage_and_gaps(cli: Cli, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    files = {
        "k3s/v1.32.3+k3s1/k3s": b"k3s",
        "k3s/v1.32.3+k3s1/sha256sum-amd64.txt": b"sums",
        "k3s/v1.32.3+k3s1/k3s-airgap-images-amd64.tar.zst": b"images",
        "k3s/v1.30.6+k3s1/k3s": b"k3s",
        "k3s/v1.30.6+k3s1/sha256sum-amd64.txt": b"sums",
        "kuberlr/linux-amd64/kubectl1.31.9": b"kubectl",
        "k3s-versions.json": b"{}",
    }
    for path, data in files.items():
        (bundle / path).parent.mkdir(parents=True, exist_ok=True)
        (bundle / path).write_bytes(data)
    manifest = {
        "kind": "kubeferry-bundle",
        "format": 1,
        "created": "2026-11-27T00:00:00Z",
        "tool": "kubeferry test",
        "targets": {"k3s": [], "arches": ["amd64"], "os": ["linux", "windows"]},
        "files": [_manifest_entry(p, d) for p, d in files.items()],
    }
    (bundle / "kubeferry-bundle.json").write_text(json.dumps(manifest))
    (bundle / "k3s-versions.json").unlink()
    result = cli("bundle", "inspect", str(bundle), "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["kubectls"][0]["covers"] == ["1.30", "1.32"]
    missing = "\n".join(data["missing"])
    assert "k3s v1.30.6+k3s1 (amd64): no k3s-airgap-images-amd64.tar.zst" in missing
    assert "kubectl for k3s 1.30 on windows/amd64" in missing
    assert "on linux/amd64" not in missing
    assert data["absent_on_disk"] == ["k3s-versions.json"]
    text = cli("bundle", "inspect", str(bundle), env={"NO_COLOR": "1"})
    assert "1.30, 1.32" in text.stdout
    assert all(line == line.rstrip() for line in text.stdout.splitlines())
    assert "\x1b[" not in text.stdout


def test_bundle_inspect_of_a_folder_without_manifest(cli: Cli, tmp_path: Path) -> None:
    result = cli("bundle", "inspect", str(tmp_path))
    assert result.code == 1 and "not a kubeferry bundle" in result.stderr


@pytest.mark.parametrize("command", [("kubectl", "get", "1.31"), ("cache", "add", "stable")])
def test_connections_option(cli: Cli, command: tuple[str, ...]) -> None:
    refused = cli(*command, "--connections", "0")
    assert refused.code == 2 and "--connections" in refused.stderr
    offline = cli(*command, "--connections", "8", "--offline")
    assert offline.code == 1 and "offline" in offline.stderr.lower()
    assert "--connections N" in cli(*command[:2], "--help").stdout


def _command_paths() -> list[str]:
    import click

    from kubeferry.cli import cli as root

    context = click.Context(root)
    paths: list[str] = []

    def walk(command: click.Command, path: list[str]) -> None:
        paths.append(" ".join(path))
        if isinstance(command, click.Group):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None
                walk(sub, [*path, name])

    walk(root, [])
    return paths


def test_every_command_has_examples_and_a_whole_summary() -> None:
    from kubeferry.cli import COMMANDS, SUMMARIES
    from kubeferry.cli.examples import EXAMPLES

    assert set(SUMMARIES) == set(COMMANDS)
    paths = _command_paths()
    assert "bundle inspect" in paths and "shim uninstall" in paths and "kubectl remove" in paths
    assert [p for p in paths if p not in EXAMPLES] == []


def test_verbose_plan_shows_whole_urls(cli: Cli, tmp_path: Path, real_kubectls) -> None:
    from tests.support.sample import KUBECTL, sample_upstream

    with sample_upstream(real_kubectls[KUBECTL].read_bytes()) as upstream:
        env = {**upstream.environ(), "COLUMNS": "40"}
        spec = ("--k3s", "stable", "--k3s", "1.30", "--arch", "amd64")
        args = ("bundle", "create", str(tmp_path / "b"), *spec, "--dry-run", "-v")
        result = cli(*args, env=env)
    assert result.code == 0, result.stderr
    url = f"{upstream.url}/dl/release/v{KUBECTL}/bin/linux/amd64/kubectl"
    assert url in result.stdout
    assert "…" not in result.stdout
    assert all(line == line.rstrip() for line in result.stdout.splitlines())
