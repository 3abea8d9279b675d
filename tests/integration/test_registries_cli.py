"""`kubeferry registries write|check` for each target, parsed back; merging never clobbers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import Cli

MIRROR = "registry.example:5000/mirror"
OVERRIDE = Path(".local/share/rancher-desktop/lima/_config/override.yaml")


def _script_output(script: str, tmp_path: Path) -> dict:
    """Run the provision script with /etc redirected into tmp_path; return what it wrote."""
    local = script.replace("/etc/rancher/k3s", str(tmp_path / "vm-etc"))
    subprocess.run(["sh", "-c", local], check=True)
    return yaml.safe_load((tmp_path / "vm-etc" / "registries.yaml").read_text())


def test_k3s_target_under_root(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "node"
    result = cli(
        "registries", "write", "--mirror", MIRROR, "--for", "k3s", "--root", str(root), "--json"
    )
    assert result.code == 0, result.stderr
    path = root / "etc/rancher/k3s/registries.yaml"
    assert result.json()["path"] == str(path)
    document = yaml.safe_load(path.read_text())
    assert document["mirrors"]["docker.io"]["endpoint"] == ["https://registry.example:5000"]
    assert document["mirrors"]["quay.io"]["rewrite"] == {"^(.*)$": "mirror/$1"}
    assert cli("registries", "check", "--root", str(root)).code == 0


def test_rancher_desktop_linux_override_merges_and_replaces_only_its_entry(
    cli: Cli, tmp_path: Path
) -> None:
    override = cli.home / OVERRIDE
    override.parent.mkdir(parents=True)
    user = {
        "mounts": [{"location": "/some/path", "writable": True}],
        "env": {"K3S_EXEC": "--tls-san value"},
        "provision": [{"mode": "system", "script": "#!/bin/sh\necho ulimits\n"}],
    }
    override.write_text(yaml.safe_dump(user))
    for mirror in (MIRROR, "second.example:443"):
        result = cli(
            "registries",
            "write",
            "--mirror",
            mirror,
            "--os",
            "linux",
            "--registry",
            "docker.io",
            "--plain-http",
        )
        assert result.code == 0, result.stderr
    merged = yaml.safe_load(override.read_text())
    assert merged["mounts"] == user["mounts"] and merged["env"] == user["env"]
    assert merged["provision"][0] == user["provision"][0]
    ours = [p for p in merged["provision"] if "kubeferry:registries" in p["script"]]
    assert len(ours) == 1 and ours[0]["mode"] == "system"
    written = _script_output(ours[0]["script"], tmp_path)
    assert written == {"mirrors": {"docker.io": {"endpoint": ["http://second.example:443"]}}}
    checked = cli("registries", "check", "--os", "linux", "--root", str(tmp_path), "--json")
    assert checked.code == 0 and checked.json()[0]["mirrors"] == ["docker.io"]


def test_macos_and_windows_paths(cli: Cli, tmp_path: Path) -> None:
    mac = cli("registries", "write", "--mirror", MIRROR, "--os", "darwin", "--json")
    assert mac.code == 0, mac.stderr
    mac_path = cli.home / "Library/Application Support/rancher-desktop/lima/_config/override.yaml"
    assert mac.json()["path"] == str(mac_path) and mac_path.is_file()
    local = tmp_path / "LocalAppData"
    win = cli(
        "registries",
        "write",
        "--mirror",
        MIRROR,
        "--os",
        "windows",
        "--json",
        env={"LOCALAPPDATA": str(local)},
    )
    assert win.code == 0, win.stderr
    script = local / "rancher-desktop" / "provisioning" / "kubeferry-registries.start"
    assert win.json()["path"] == str(script)
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and "\r" not in text
    assert _script_output(text, tmp_path)["mirrors"]["ghcr.io"]["rewrite"] == {
        "^(.*)$": "mirror/$1"
    }


def test_unparseable_override_is_backed_up_and_left_alone(cli: Cli) -> None:
    override = cli.home / OVERRIDE
    override.parent.mkdir(parents=True)
    broken = "provision:\n  - mode: system\n   script: [unclosed\n"
    override.write_text(broken)
    result = cli("registries", "write", "--mirror", MIRROR, "--os", "linux")
    assert result.code == 1 and str(override) in result.stderr
    assert "left untouched" in result.stderr and "kubeferry-backup.1" in result.stderr
    assert override.read_text() == broken
    assert (override.parent / "override.yaml.kubeferry-backup.1").read_text() == broken


def test_plain_file_target_merges_and_check_reports_problems(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "custom.yaml"
    target.write_text("mirrors:\n  example.org:\n    endpoint: [https://keep.example]\n")
    result = cli("registries", "write", "--mirror", MIRROR, "--for", str(target))
    assert result.code == 0, result.stderr
    document = yaml.safe_load(target.read_text())
    assert document["mirrors"]["example.org"] == {"endpoint": ["https://keep.example"]}
    assert "docker.io" in document["mirrors"]
    root = tmp_path / "node"
    k3s = root / "etc/rancher/k3s/registries.yaml"
    k3s.parent.mkdir(parents=True)
    k3s.write_text("mirrors:\n  docker.io:\n    endpoint: [https://x]\n  rewrite:\n    a: b\n")
    checked = cli("registries", "check", "--root", str(root))
    assert checked.code == 1 and "mis-indented" in checked.stdout


def test_doctor_checks_the_registries_file_it_finds(cli: Cli) -> None:
    """A mis-indented `rewrite:` in Rancher Desktop's file (RD #6959) is a doctor problem."""
    written = cli("registries", "write", "--mirror", MIRROR, "--os", "linux")
    assert written.code == 0, written.stderr
    healthy = cli("doctor", "--quick", "--os", "linux", "--json").json()
    (found,) = healthy["registries"]
    assert found["path"] == str(cli.home / OVERRIDE) and found["problems"] == []
    assert "docker.io" in found["mirrors"]
    override = cli.home / OVERRIDE
    document = yaml.safe_load(override.read_text())
    script = document["provision"][-1]["script"]
    document["provision"][-1]["script"] = script.replace("    rewrite:", "  rewrite:", 1)
    if document["provision"][-1]["script"] == script:  # no rewrite written: add a broken one
        document["provision"][-1]["script"] = script.replace(
            "mirrors:\n", "mirrors:\n  rewrite:\n    a: b\n", 1
        )
    override.write_text(yaml.safe_dump(document))
    broken = cli("doctor", "--quick", "--os", "linux")
    assert broken.code == 1
    assert str(override) in broken.stdout and "registries write" in broken.stdout


def test_registry_commands_obey_offline(cli: Cli, tmp_path: Path) -> None:
    """--offline means no network at all, a registry inside the gap included."""
    result = cli("bundle", "pull", "127.0.0.1:9/x/y:z", str(tmp_path / "b"), "--offline")
    assert result.code == 1 and "offline" in result.stderr.lower()
    assert not (tmp_path / "b").exists()


def test_credentials_are_not_world_readable_and_user_scripts_are_not_overridden(
    cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "registries.yaml"
    written = cli(
        "registries",
        "write",
        "--mirror",
        MIRROR,
        "--for",
        str(target),
        "--username",
        "robot",
        "--password-stdin",
        stdin="s3cret\n",
    )
    assert written.code == 0, written.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(target.read_text())["configs"]
    override = cli.home / OVERRIDE
    override.parent.mkdir(parents=True)
    users = {"provision": [{"mode": "system", "script": "cat > /etc/rancher/k3s/registries.yaml"}]}
    override.write_text(yaml.safe_dump(users))
    refused = cli("registries", "write", "--mirror", MIRROR, "--os", "linux")
    assert refused.code == 1 and "already has a provisioning script" in refused.stderr
    assert yaml.safe_load(override.read_text()) == users


def test_loopback_mirror_for_rancher_desktop_names_the_hosts_address(cli: Cli) -> None:
    result = cli("registries", "write", "--mirror", "127.0.0.1:5000/mirror", "--os", "linux")
    assert result.code == 0, result.stderr
    assert "127.0.0.1:5000 is a loopback address" in result.stderr
    assert "--mirror host.rancher-desktop.internal:5000/mirror" in result.stderr
    assert "host.lima.internal" in result.stderr
    plain = cli("registries", "write", "--mirror", MIRROR, "--os", "linux")
    assert plain.code == 0 and "loopback" not in plain.stderr


def test_check_a_file_written_with_for_file(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "node-registries.yaml"
    assert cli("registries", "write", "--mirror", MIRROR, "--for", str(target)).code == 0
    checked = cli("registries", "check", str(target), "--json")
    assert checked.code == 0, checked.stdout
    assert checked.json()[0]["mirrors"] == ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"]
    target.write_text("mirrors:\n  docker.io:\n    endpoint: [registry.lan]\n")
    broken = cli("registries", "check", str(target))
    assert broken.code == 1 and "is not an http:// or https:// URL" in broken.stdout
    missing = cli("registries", "check", str(tmp_path / "absent.yaml"))
    assert missing.code == 1 and "does not exist" in missing.stderr
    override = cli.home / OVERRIDE  # Rancher Desktop's own file, given by name
    assert cli("registries", "write", "--mirror", "bad mirror", "--os", "linux").code == 1
    assert cli("registries", "write", "--mirror", MIRROR, "--os", "linux").code == 0
    lima = cli("registries", "check", str(override), "--json")
    assert lima.code == 0 and lima.json()[0]["kind"] == "lima-override"
    assert "docker.io" in lima.json()[0]["mirrors"]
