"""Which kubectl fits a server (pure, standard library, on the wrapper's warm path).

Versions are (major, minor, patch) tuples. The skew policy allows a kubectl within one minor of
the server; the server's own minor is preferred, then minor+1, then minor-1, newest patch first.
(kuberlr takes the highest compatible version, so it prefers minor+1 over an exact match.)
This module imports nothing: each import costs every kubectl call.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing and collections.abc cost every kubectl call
if TYPE_CHECKING:
    from collections.abc import Iterable

Version = tuple[int, int, int]
Binary = tuple[Version, str]


def is_ascii_number(text: str) -> bool:
    """True for 1 to 9 ASCII digits (`str.isdigit` also takes `٣`; 5,000 digits is no version)."""
    return 0 < len(text) <= 9 and text.isascii() and text.isdigit()


def version_numbers(text: str) -> tuple[int, ...] | None:
    """`1.30` or `v1.30.6` to (1, 30) or (1, 30, 6); None unless 2 or 3 ASCII numbers."""
    parts = text.strip().removeprefix("v").split(".")
    if len(parts) not in (2, 3) or not all(is_ascii_number(part) for part in parts):
        return None
    return tuple(int(part) for part in parts)


def parse_version(text: str) -> Version | None:
    """`v1.30.6+k3s1`, `1.30.6` or `1.30` to (1, 30, 6); None when it is not one."""
    core = text.strip().split("+", 1)[0].split("-", 1)[0]
    numbers = version_numbers(core)
    if numbers is None:
        return None
    return (numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 0)


def format_version(version: Version) -> str:
    """`1.30.6`."""
    return f"{version[0]}.{version[1]}.{version[2]}"


def preference(server: Version) -> list[tuple[int, int]]:
    """(major, minor) pairs in order of preference for `server`: own, +1, -1."""
    major, minor = server[0], server[1]
    order = [(major, minor), (major, minor + 1)]
    if minor > 0:
        order.append((major, minor - 1))
    return order


def within_skew(kubectl: tuple[int, int], server: tuple[int, int]) -> bool:
    """True when a kubectl of minor `kubectl` may talk to a server of minor `server`."""
    return kubectl[0] == server[0] and abs(kubectl[1] - server[1]) <= 1


def choose(server: Version, binaries: list[Binary]) -> Binary | None:
    """The best binary for `server`, or None when none is within one minor."""
    for wanted in preference(server):
        fitting = [binary for binary in binaries if binary[0][:2] == wanted]
        if fitting:
            return max(fitting, key=lambda binary: binary[0])
    return None


def newest(binaries: list[Binary]) -> Binary | None:
    """The highest version available, compatible or not."""
    return max(binaries, key=lambda binary: binary[0]) if binaries else None


def acceptable_range(server: Version) -> str:
    """`1.29 - 1.31`, for messages."""
    low = max(server[1] - 1, 0)
    return f"{server[0]}.{low} - {server[0]}.{server[1] + 1}"


def covering_minors(server_minors: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The fewest kubectl minors whose ±1 window covers every server minor.

    Greedy over the sorted minors (optimal for windows of equal width): the lowest uncovered
    minor m is covered by m+1 when that also reaches m+1 or m+2 (a kubectl one minor newer is
    the wrapper's second choice), else by m itself (its first choice).
    """
    chosen: list[tuple[int, int]] = []
    wanted = sorted(set(server_minors))
    index = 0
    while index < len(wanted):
        major, minor = wanted[index]
        later = {m for (j, m) in wanted if j == major}
        pick = minor + 1 if (minor + 1 in later or minor + 2 in later) else minor
        chosen.append((major, pick))
        while index < len(wanted) and within_skew((major, pick), wanted[index]):
            index += 1
    return chosen
