"""Which kubectl fits a server (pure, standard library).

Versions are (major, minor, patch) tuples. The skew policy allows a kubectl within one minor of
the server; the server's own minor is preferred, then minor+1, then minor-1, newest patch first.
(kuberlr takes the highest compatible version, so it prefers minor+1 over an exact match.)
"""

from __future__ import annotations

Version = tuple[int, int, int]
Binary = tuple[Version, str]


def preference(server: Version) -> list[tuple[int, int]]:
    """(major, minor) pairs in order of preference for `server`."""
    major, minor = server[0], server[1]
    order = [(major, minor), (major, minor + 1)]
    if minor > 0:
        order.append((major, minor - 1))
    return order


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


def format_version(version: Version) -> str:
    """`1.30.6`."""
    return f"{version[0]}.{version[1]}.{version[2]}"


def parse_version(text: str) -> Version | None:
    """`v1.30.6+k3s1`, `1.30.6` or `1.30` to (1, 30, 6); None when it is not one."""
    core = text.strip().lstrip("v").split("+", 1)[0].split("-", 1)[0]
    parts = core.split(".")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts):
        return None
    numbers = [int(part) for part in parts] + [0]
    return (numbers[0], numbers[1], numbers[2])
