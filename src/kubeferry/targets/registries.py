"""Where registries.yaml goes, merged with what is there, and how doctor checks it.

- k3s: `<root>/etc/rancher/k3s/registries.yaml` (merged: other registries kept).
- Rancher Desktop on Linux and macOS: Lima's `_config/override.yaml`, whose `provision:` list
  gets one `mode: system` script (marked) that writes /etc/rancher/k3s/registries.yaml in the
  VM at every start. Every other key and provision entry the user has is kept.
- Rancher Desktop on Windows: `%LOCALAPPDATA%\\rancher-desktop\\provisioning\\
  kubeferry-registries.start`, a shell script Rancher Desktop runs in its WSL distro at start.
- any other FILE: a registries.yaml there.

A file that exists but cannot be parsed (or uses YAML aliases, or has a key twice) is never
overwritten: it is copied to a numbered backup beside it and the write is refused, so the user
can fix it first. Before an existing file is changed, a numbered backup of it is kept. Only a
regular file is read or replaced: a link, FIFO, device or folder is refused at once (a FIFO is
never opened for a blocking read), and so is a file its owner made read-only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from kubeferry.core.image_names import looks_like_host
from kubeferry.core.layouts import K3S_REGISTRIES_PATH, rancher_desktop_provisioning_path
from kubeferry.errors import KubeferryError, RegistriesFileError, UsageError
from kubeferry.files.safe import inside, open_plain, write_text_atomically
from kubeferry.files.textfiles import read_bytes
from kubeferry.registry.registries_yaml import (
    MirrorSettings,
    build_registries,
    check_registries,
    has_credentials,
    load_yaml,
    merge_registries,
    mirrored_registries,
    render_registries,
)

MARKER: Final = "# kubeferry:registries"
_HEREDOC: Final = "KUBEFERRY_REGISTRIES_EOF"


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the provision script) as readable `|` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def provision_script(registries_yaml: str) -> str:
    """The shell script that writes registries.yaml inside the VM (marked as kubeferry's)."""
    if _HEREDOC in registries_yaml:
        raise RegistriesFileError(f"a registry value contains {_HEREDOC!r}; choose another.")
    return (
        f"#!/bin/sh\n{MARKER} (written by 'kubeferry registries write'; replaced on the next "
        f"write)\nset -e\numask 077\nmkdir -p /etc/rancher/k3s\n"
        f"cat <<'{_HEREDOC}' > /etc/rancher/k3s/registries.yaml\n{registries_yaml}{_HEREDOC}\n"
    )


def script_registries(script: str) -> Any:
    """The registries.yaml document inside one of our provision scripts (None if none)."""
    start = script.find(f"<<'{_HEREDOC}'")
    if start < 0:
        return None
    body = script[script.index("\n", start) + 1 :]
    return load_yaml(body.split(_HEREDOC, 1)[0])


@dataclass(frozen=True)
class Existing:
    """A registries file as found: its bytes and permission bits (None: there is none)."""

    path: Path
    data: bytes | None = None
    mode: int = 0o644

    @property
    def text(self) -> str:
        """The bytes as UTF-8 text (RegistriesFileError otherwise)."""
        try:
            return (self.data or b"").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _backup_and_refuse(self, f"is not UTF-8 text (byte {exc.start})") from exc


def read_existing(path: Path, *, writing: bool = False) -> Existing:
    """The file at `path` if it is a regular file; a link, FIFO, device or folder is refused at
    once (never opened for a blocking read); with `writing`, a read-only file is refused too."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return Existing(path)
    if stat.S_ISLNK(found.st_mode):
        raise RegistriesFileError(
            f"{path} is a symbolic link; kubeferry does not write through links. Replace it "
            "with a plain file.",
            path=path,
        )
    data = read_bytes(path, missing="", error=RegistriesFileError)  # refuses FIFOs, devices
    mode = stat.S_IMODE(found.st_mode)
    if writing and not mode & stat.S_IWUSR:
        raise RegistriesFileError(
            f"{path} is read-only (mode {mode:04o}): its owner made it so, and kubeferry does not "
            "replace such a file; nothing was written. Make it writable (chmod u+w) if it should "
            "change, then run 'kubeferry registries write' again.",
            path=path,
        )
    return Existing(path, data, mode)


def _numbered_backup(existing: Existing) -> Path:
    """A copy of the file's bytes as `<name>.kubeferry-backup.N` (the first N free)."""
    path, number = existing.path, 1
    while True:
        backup = path.with_name(f"{path.name}.kubeferry-backup.{number}")
        try:
            descriptor = open_plain(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            number += 1
            continue
        os.fchmod(descriptor, 0o600)  # it may hold registry credentials
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(existing.data or b"")
        return backup


def _backup_and_refuse(existing: Existing, why: str) -> RegistriesFileError:
    path, backup = existing.path, _numbered_backup(existing)
    return RegistriesFileError(
        f"{path} exists but {why}, so it was left untouched and nothing was written; a copy "
        f"was kept as {backup}. Fix or move the file, then run 'kubeferry registries write' "
        "again.",
        path=path,
    )


def _load_existing(existing: Existing) -> Any:
    if existing.data is None:
        return None
    try:
        return load_yaml(existing.text)
    except yaml.YAMLError as exc:
        raise _backup_and_refuse(existing, f"cannot be used as YAML ({exc})") from exc


def _is_ours(entry: Any) -> bool:
    return isinstance(entry, Mapping) and MARKER in str(entry.get("script", ""))


def merged_override(existing: Any, script: str, found: Existing) -> dict[str, Any]:
    """A Lima override with our provision entry replaced and everything else kept."""
    path = found.path
    if existing is not None and not isinstance(existing, Mapping):
        raise _backup_and_refuse(found, "is not a YAML mapping (Lima expects keys at the top)")
    merged = dict(existing or {})
    provision = merged.get("provision", [])
    if provision is None:
        provision = []
    if not isinstance(provision, list):
        raise _backup_and_refuse(found, "has a 'provision' that is not a list")
    kept = [entry for entry in provision if not _is_ours(entry)]
    for entry in kept:
        if isinstance(entry, Mapping) and "registries.yaml" in str(entry.get("script", "")):
            raise RegistriesFileError(
                f"{path} already has a provisioning script of yours that writes "
                "registries.yaml; kubeferry's would overwrite it at every start, so nothing was "
                "written. Remove that script (or move its mirrors into 'kubeferry registries "
                "write --registry HOST ...') and run the command again.",
                path=path,
            )
    merged["provision"] = [*kept, {"mode": "system", "script": script}]
    return merged


@dataclass(frozen=True)
class WrittenFile:
    """What `registries write` wrote."""

    path: Path
    kind: str
    mirrors: tuple[str, ...]
    backup: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "mirrors": list(self.mirrors),
            "backup": str(self.backup) if self.backup else None,
        }


def write_registries(document: Mapping[str, Any], path: Path, kind: str) -> WrittenFile:
    """Write `document` into `path` as `kind` (registries.yaml, lima-override, start-script).

    An existing file must be a regular, writable file; it is kept as a numbered backup before it
    is replaced (unless nothing changes), and its permissions are kept (0600 with credentials).
    """
    found = read_existing(path, writing=True)
    if kind == "start-script":
        text = provision_script(render_registries(document))
    elif kind == "lima-override":
        script = provision_script(render_registries(document))
        merged = merged_override(_load_existing(found), script, found)
        text = yaml.dump(merged, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False)
        if merged != load_yaml(text):
            raise RegistriesFileError(f"the merged {path} did not survive a round trip.", path=path)
    else:
        existing = _load_existing(found)
        if existing is not None and not isinstance(existing, Mapping):
            raise _backup_and_refuse(found, "is not a registries.yaml mapping")
        merged_file = merge_registries(existing, document)
        secret = has_credentials(merged_file)
        text = render_registries(merged_file)
    if kind != "registries.yaml":
        secret = has_credentials(document)
    mirrors = tuple(mirrored_registries(document))
    if found.data == text.encode("utf-8"):
        return WrittenFile(path, kind, mirrors)
    backup = _numbered_backup(found) if found.data is not None else None
    mode = found.mode if found.data is not None else 0o644
    write_text_atomically(path, text, mode=0o600 if secret else mode)
    return WrittenFile(path, kind, mirrors, backup)


@dataclass(frozen=True)
class RegistriesCheck:
    """What doctor found in one registries file."""

    path: Path
    kind: str
    mirrors: tuple[str, ...]
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {
            "path": str(self.path),
            "kind": self.kind,
            "mirrors": list(self.mirrors),
            "problems": list(self.problems),
        }


def registries_kind(path: Path) -> str:
    """How to read a registries file: one of our provisioning scripts (a Lima override holds it
    under `provision:`, a Windows `.start` script is it), else a plain registries.yaml."""
    head = _head(path)
    if MARKER not in head:
        return "registries.yaml"
    return "lima-override" if "provision:" in head else "start-script"


def _head(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            return stream.read(65536).decode("utf-8", "replace")
    except OSError:
        return ""


def check_file(path: Path, kind: str) -> RegistriesCheck | None:
    """Check one registries file (None when it does not exist; a FIFO or device is a problem,
    never read)."""
    try:
        found = read_existing(path)
        if found.data is None:
            return None
        loaded = load_yaml(found.data.decode("utf-8"))
    except KubeferryError as exc:
        return RegistriesCheck(path, kind, (), (exc.message,))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return RegistriesCheck(path, kind, (), (f"cannot be parsed: {exc}",))
    documents: list[Any] = []
    if kind == "lima-override":
        provision = loaded.get("provision") if isinstance(loaded, Mapping) else None
        for entry in provision if isinstance(provision, list) else []:
            if _is_ours(entry):
                documents.append(script_registries(str(entry["script"])))
    elif kind == "start-script":
        documents.append(script_registries(found.data.decode("utf-8")))
    else:
        documents.append(loaded)
    problems = [p for document in documents for p in check_registries(document)]
    mirrors = sorted({m for document in documents for m in mirrored_registries(document)})
    return RegistriesCheck(path, kind, tuple(mirrors), tuple(problems))


def rancher_desktop_file(
    target_os: str, home: Path, environ: Mapping[str, str]
) -> tuple[Path, str]:
    """(path, kind) of the provisioning file Rancher Desktop applies on `target_os`."""
    kind = "start-script" if target_os == "windows" else "lima-override"
    return rancher_desktop_provisioning_path(target_os, home, environ), kind


def registries_destination(
    target: str, root: Path, target_os: str, home: Path, environ: Mapping[str, str]
) -> tuple[Path, str]:
    """(path, kind) for `--for k3s|rancher-desktop|FILE` (k3s's file under `root`)."""
    if target == "k3s":
        return root / K3S_REGISTRIES_PATH, "registries.yaml"
    if target == "rancher-desktop":
        return rancher_desktop_file(target_os, home, environ)
    return Path(target), "registries.yaml"


def find_and_check(
    target_os: str, home: Path, environ: Mapping[str, str], root: Path = Path("/")
) -> list[RegistriesCheck]:
    """Doctor's look: the k3s file and Rancher Desktop's provisioning file, where they exist."""
    rd, rd_kind = rancher_desktop_file(target_os, home, environ)
    found = [check_file(root / K3S_REGISTRIES_PATH, "registries.yaml"), check_file(rd, rd_kind)]
    return [check for check in found if check is not None]


def write_hosts_dir(mirror: MirrorSettings, folder: Path) -> WrittenFile:
    """`DIR/<registry>/hosts.toml` for each mirrored registry (containerd's `config_path`)."""
    from kubeferry.registry.hosts_toml import hosts_toml

    build_registries(mirror)  # the same checks of --mirror and --registry
    for registry in dict.fromkeys(mirror.registries):
        if not looks_like_host(registry):
            raise UsageError(f"--registry {registry!r} is not a registry host.")
        path = inside(folder, (registry, "hosts.toml"))
        write_text_atomically(path, hosts_toml(mirror, registry))
    return WrittenFile(folder, "containerd-hosts", tuple(dict.fromkeys(mirror.registries)))
