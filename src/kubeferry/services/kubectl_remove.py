"""`kubectl remove VERSION`: delete kubectl binaries from the kuberlr folder (never SystemPath)."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeferry.core.kuberlr import kubectl_file_name
from kubeferry.core.skew import version_numbers
from kubeferry.errors import NotFoundError, UsageError
from kubeferry.settings import Settings


@dataclass(frozen=True)
class RemovedKubectls:
    """The files `kubectl remove` deleted."""

    removed: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"removed": list(self.removed)}


def _candidates(folder: Path, version: str, windows: bool) -> list[Path]:
    """kuberlr names for `version`: `kubectl1.30.6` and the short `kubectl1.30` kuberlr accepts."""
    names = {kubectl_file_name(version, "windows" if windows else "linux")}
    if version.endswith(".0"):
        names.add(kubectl_file_name(version[:-2], "windows" if windows else "linux"))
    return [folder / name for name in sorted(names)]


def _present(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def remove_kubectls(settings: Settings, versions: tuple[str, ...]) -> RemovedKubectls:
    """Delete kubectl VERSION (M.m.p) for the target OS and arches; NotFoundError when absent."""
    windows = settings.target_os == "windows"
    wanted: list[str] = []
    for text in versions:
        numbers = version_numbers(text)
        if numbers is None or len(numbers) != 3:
            raise UsageError(
                f"{text!r} is not a kubectl version like 1.30.6; 'kubeferry kubectl list' shows "
                "the installed ones"
            )
        wanted.append(".".join(str(n) for n in numbers))
    found = [
        path
        for version in dict.fromkeys(wanted)
        for arch in settings.arches
        for path in _candidates(settings.kuberlr_dir(arch), version, windows)
        if _present(path)
    ]
    if not found:
        folders = ", ".join(str(settings.kuberlr_dir(a)) for a in settings.arches)
        raise NotFoundError(
            f"no kubectl {', '.join(wanted)} in {folders}; nothing was removed. "
            "'kubeferry kubectl list' shows what is there (a system kubectl is never removed).",
            path=settings.kuberlr_dir(),
        )
    for path in found:
        path.unlink()  # a link is removed itself, never what it points to
    return RemovedKubectls(tuple(str(path) for path in found))
