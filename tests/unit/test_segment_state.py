"""The pieces state file is the user's: anything a run would not write means "no state"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeferry.download.segment_files import PIECE_SIZE, saved_state, state_path

URL = "http://mirror.invalid/big.bin"
SIZE = 3 * PIECE_SIZE + 100  # four pieces, the last short


def _write(destination: Path, **changes: object) -> None:
    state = {"url": URL, "size": SIZE, "validator": '"e"', "piece": PIECE_SIZE, "done": [0]}
    state.update(changes)
    state_path(destination).write_text(json.dumps(state))


def test_a_state_as_written_is_read(tmp_path: Path) -> None:
    destination = tmp_path / "big.bin"
    _write(destination, partial={"1": PIECE_SIZE + 10, "3": 3 * PIECE_SIZE + 99})
    state = saved_state(destination, URL)
    assert state is not None and state["done"] == [0]
    assert state["partial"] == {1: PIECE_SIZE + 10, 3: 3 * PIECE_SIZE + 99}


@pytest.mark.parametrize(
    "changes",
    [
        {"size": 0},
        {"size": -1},
        {"size": "big"},
        {"size": True},
        {"done": ["a"]},
        {"done": [None]},
        {"done": [4]},  # past the last piece
        {"done": [-1]},
        {"validator": 7},
        {"url": "http://elsewhere.invalid/big.bin"},
    ],
)
def test_a_state_a_run_would_not_write_is_no_state(tmp_path: Path, changes: dict) -> None:
    destination = tmp_path / "big.bin"
    _write(destination, **changes)
    assert saved_state(destination, URL) is None


@pytest.mark.parametrize(
    "partial",
    [
        {"1": PIECE_SIZE},  # nothing kept: at the piece's start
        {"1": 2 * PIECE_SIZE},  # the whole piece: that is "done", not partial
        {"3": SIZE + 5},  # past the end of the file
        {"9" * 5000: PIECE_SIZE + 1},  # a number too long to be a piece
        {"x": PIECE_SIZE + 1},
        {"1": "far"},
        {"1": True},
    ],
)
def test_partial_entries_that_make_no_sense_are_fetched_again(tmp_path: Path, partial) -> None:
    destination = tmp_path / "big.bin"
    _write(destination, partial=partial)
    state = saved_state(destination, URL)
    assert state is not None and state["partial"] == {}
