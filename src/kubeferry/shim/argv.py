"""The kubectl arguments the wrapper must understand (pure, standard library).

The connection flags (`--server`/`-s`, `--cluster`, `--user`, `--context`, `--kubeconfig`,
credentials, TLS settings, `--request-timeout`) change which server is asked and how, so they
are read here, in `--flag=value` and `--flag value` forms, anywhere before `--`. Client-only
commands (`version --client`, `completion`, `help`, `--help`/`-h`, `config`, `plugin`,
`kustomize`, no arguments at all) never talk to a server, so the wrapper runs the newest local
kubectl for them without a probe.
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


# The flags that change kubectl's request (client-go's ConfigOverrides), by their long name.
CONNECTION_FLAGS = frozenset(
    {
        "as",
        "as-group",
        "as-uid",
        "certificate-authority",
        "client-certificate",
        "client-key",
        "cluster",
        "context",
        "insecure-skip-tls-verify",
        "kubeconfig",
        "password",
        "request-timeout",
        "server",
        "tls-server-name",
        "token",
        "user",
        "username",
    }
)
BOOL_FLAGS = frozenset({"insecure-skip-tls-verify"})
REPEATED_FLAGS = frozenset({"as-group"})  # a list: every use adds one


def _connection_flag(args: list[str], index: int) -> tuple[str, str, int] | None:
    """(name, value, words used) when args[index] is a connection flag, else None."""
    word = args[index]
    if word.startswith("-s") and not word.startswith("--"):  # -s URL, -sURL, -s=URL
        name, value = "server", word[2:].removeprefix("=")
    elif word.startswith("--"):
        name, equals, value = word[2:].partition("=")
        if name not in CONNECTION_FLAGS:
            return None
        if name in BOOL_FLAGS:
            return name, (value if equals else "true"), 1
        if equals:
            return name, value, 1
    else:
        return None
    if value or word.endswith("="):
        return name, value, 1
    if index + 1 < len(args):
        return name, args[index + 1], 2
    return None  # a dangling flag: kubectl refuses the command line itself


def connection_flags(args: list[str]) -> dict[str, str]:
    """The connection flags in `args`, before or after the command; the last use wins.

    `--as-group` may repeat: its values are joined with a newline. Scanning stops at `--`.
    """
    flags: dict[str, str] = {}
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            break
        found = _connection_flag(args, index) if word.startswith("-") else None
        if found is None:
            index += 1
            continue
        name, value, used = found
        if name in REPEATED_FLAGS and name in flags:
            value = flags[name] + "\n" + value
        flags[name] = value
        index += used
    return flags


def scan_flags(args: list[str]) -> tuple[str | None, str | None]:
    """(context, kubeconfig) from kubectl arguments; the last one wins; scanning stops at `--`."""
    flags = connection_flags(args)
    return flags.get("context"), flags.get("kubeconfig")


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
