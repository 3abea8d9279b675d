"""The kubectl arguments the wrapper must understand (pure, standard library).

`--context` and `--kubeconfig` pick the cluster. Client-only commands (`version --client`,
`completion`, `help`, `--help`/`-h`, `config`, `plugin`, `kustomize`, no arguments at all) never
talk to a server, so the wrapper runs the newest local kubectl for them without a probe.
"""

from __future__ import annotations

from kubeferry.core.environment import GO_TRUE

CLIENT_ONLY = frozenset({"completion", "help", "config", "plugin", "kustomize"})
# kubectl's global flags that take a separate value (`-n ns`), so the value is not the command.
VALUE_FLAGS = frozenset(
    {
        "--as",
        "--as-group",
        "--as-uid",
        "--cache-dir",
        "--certificate-authority",
        "--client-certificate",
        "--client-key",
        "--cluster",
        "--context",
        "--kubeconfig",
        "--log-backtrace-at",
        "--log-dir",
        "--log-file",
        "--log-file-max-size",
        "--log-flush-frequency",
        "--namespace",
        "--password",
        "--profile",
        "--profile-output",
        "--request-timeout",
        "--server",
        "--stderrthreshold",
        "--tls-server-name",
        "--token",
        "--user",
        "--username",
        "--v",
        "--vmodule",
        "-n",
        "-s",
        "-v",
    }
)


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


def client_only(args: list[str]) -> bool:
    """True when kubectl will not contact the server for `args` (so there is nothing to probe)."""
    if not args:
        return True
    command: str | None = None
    client_flag = False
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            break
        if word in ("--help", "-h"):
            return True
        if word == "--client" or (word.startswith("--client=") and word[9:] in GO_TRUE):
            client_flag = True
        elif word.startswith("-"):
            if word in VALUE_FLAGS:
                index += 1  # skip the flag's value
        elif command is None:
            command = word
        index += 1
    if command is None:
        return True  # only global flags: kubectl prints its help
    return command in CLIENT_ONLY or (command == "version" and client_flag)
