"""Where registries.yaml goes, merged with what is there, and how doctor checks it.

- k3s: `<root>/etc/rancher/k3s/registries.yaml` (merged: other registries kept).
- Rancher Desktop on Linux and macOS: Lima's `_config/override.yaml`, whose `provision:` list
  gets one `mode: system` script (marked) that writes /etc/rancher/k3s/registries.yaml in the
  VM at every start. Every other key and provision entry the user has is kept.
- Rancher Desktop on Windows: `%LOCALAPPDATA%\\rancher-desktop\\provisioning\\
  kubeferry-registries.start`, a shell script Rancher Desktop runs in its WSL distro at start.
- any other FILE: a registries.yaml there.

A file that exists but cannot be parsed is never overwritten: it is copied to a numbered
backup beside it and the write is refused, so the user can fix it first.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from kubeferry.core.layouts import K3S_REGISTRIES_PATH, rancher_desktop_provisioning_path
from kubeferry.errors import RegistriesFileError
from kubeferry.files.safe import write_text_atomically
from kubeferry.registry.registries_yaml import (
    check_registries,
    has_credentials,
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
    return yaml.safe_load(body.split(_HEREDOC, 1)[0])


def _backup_and_refuse(path: Path, why: str) -> RegistriesFileError:
    number = 1
    while (backup := path.with_name(f"{path.name}.kubeferry-backup.{number}")).exists():
        number += 1
    shutil.copy2(path, backup)
    return RegistriesFileError(
        f"{path} exists but {why}, so it was left untouched and nothing was written; a copy "
        f"was kept as {backup}. Fix or move the file, then run 'kubeferry registries write' "
        "again.",
        path=path,
    )


def _load_existing(path: Path) -> Any:
    if path.is_symlink():
        raise RegistriesFileError(
            f"{path} is a symbolic link; kubeferry does not write through links. Replace it "
            "with a plain file.",
            path=path,
        )
    if not path.exists():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _backup_and_refuse(path, f"cannot be parsed as YAML ({exc})") from exc


def _is_ours(entry: Any) -> bool:
    return isinstance(entry, Mapping) and MARKER in str(entry.get("script", ""))


def merged_override(existing: Any, script: str, path: Path) -> dict[str, Any]:
    """A Lima override with our provision entry replaced and everything else kept."""
    if existing is not None and not isinstance(existing, Mapping):
        raise _backup_and_refuse(path, "is not a YAML mapping (Lima expects keys at the top)")
    merged = dict(existing or {})
    provision = merged.get("provision", [])
    if provision is None:
        provision = []
    if not isinstance(provision, list):
        raise _backup_and_refuse(path, "has a 'provision' that is not a list")
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

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {"path": str(self.path), "kind": self.kind, "mirrors": list(self.mirrors)}


def write_registries(document: Mapping[str, Any], path: Path, kind: str) -> WrittenFile:
    """Write `document` into `path` as `kind` (registries.yaml, lima-override, start-script)."""
    if kind == "start-script":
        text = provision_script(render_registries(document))
    elif kind == "lima-override":
        script = provision_script(render_registries(document))
        merged = merged_override(_load_existing(path), script, path)
        text = yaml.dump(merged, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False)
        if merged != yaml.safe_load(text):
            raise RegistriesFileError(f"the merged {path} did not survive a round trip.", path=path)
    else:
        existing = _load_existing(path)
        if existing is not None and not isinstance(existing, Mapping):
            raise _backup_and_refuse(path, "is not a registries.yaml mapping")
        merged_file = merge_registries(existing, document)
        secret = has_credentials(merged_file)
        text = render_registries(merged_file)
    if kind != "registries.yaml":
        secret = has_credentials(document)
    write_text_atomically(path, text, mode=0o600 if secret else 0o644)
    return WrittenFile(path, kind, tuple(mirrored_registries(document)))


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


def check_file(path: Path, kind: str) -> RegistriesCheck | None:
    """Check one registries file (None when it does not exist)."""
    if not path.is_file():
        return None
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        return RegistriesCheck(path, kind, (), (f"cannot be parsed: {exc}",))
    documents: list[Any] = []
    if kind == "lima-override":
        provision = loaded.get("provision") if isinstance(loaded, Mapping) else None
        for entry in provision if isinstance(provision, list) else []:
            if _is_ours(entry):
                documents.append(script_registries(str(entry["script"])))
    elif kind == "start-script":
        documents.append(script_registries(path.read_text(encoding="utf-8")))
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
