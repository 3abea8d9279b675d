"""The cycle collector pauses while a command's modules load, and only then (cli/__init__.py)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import kubeferry.settings
from kubeferry.cli import main
from tests.conftest import child_environment


@pytest.fixture
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    environment = child_environment(tmp_path)  # what a child gets: private home, no proxies
    for name in [name for name in os.environ if name not in environment]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KUBEFERRY_OFFLINE", "1")
    was = gc.isenabled()
    yield tmp_path
    (gc.enable if was else gc.disable)()


def test_the_command_runs_with_the_collector_on(
    private_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = kubeferry.settings.build_settings

    def recording(**kwargs: object) -> kubeferry.settings.Settings:
        seen.append(gc.isenabled())
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(kubeferry.settings, "build_settings", recording)
    gc.enable()
    assert main(["cache", "list", "--json"]) == 0
    assert seen == [True], "the command's work must run with the cycle collector on"
    assert gc.isenabled()


@pytest.mark.parametrize("argv", [["--help"], ["bundle", "create", "--help"], ["nope"]])
def test_the_collector_is_left_as_found(private_home: Path, argv: list[str]) -> None:
    gc.enable()
    main(argv)
    assert gc.isenabled(), f"kubeferry {' '.join(argv)} left the cycle collector off"
    gc.disable()
    main(argv)
    assert not gc.isenabled(), f"kubeferry {' '.join(argv)} turned on a collector left off"


def test_a_library_call_freezes_nothing(private_home: Path) -> None:
    """Only the process's own command line freezes what it loaded; a caller's objects (and its
    uncollected garbage) must not be frozen by each call of `main`."""
    gc.enable()
    frozen = gc.get_freeze_count()
    for _ in range(3):
        assert main(["cache", "list", "--json"]) == 0
    assert gc.get_freeze_count() == frozen
