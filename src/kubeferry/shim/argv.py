"""The kubectl flags the wrapper must see: --context and --kubeconfig (pure, standard library)."""

from __future__ import annotations


def scan_flags(args: list[str]) -> tuple[str | None, str | None]:
    """(context, kubeconfig) from kubectl arguments; the last one wins; scanning stops at `--`."""
    context: str | None = None
    kubeconfig: str | None = None
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            break
        for flag in ("--context", "--kubeconfig"):
            value = None
            if word == flag and index + 1 < len(args):
                value = args[index + 1]
                index += 1
            elif word.startswith(flag + "="):
                value = word[len(flag) + 1 :]
            if value is not None:
                if flag == "--context":
                    context = value
                else:
                    kubeconfig = value
                break
        index += 1
    return context, kubeconfig
