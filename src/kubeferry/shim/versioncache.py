"""The server-version cache: a warm call opens no socket and parses no YAML.

Three kinds of line, tab-separated, in `<user cache>/kubeferry/server-versions`:

    ctx      <kubeconfig fingerprint>  <cluster key>  <checked at>
    cluster  <cluster key>  <M.m.p>  <gitVersion>  <checked at>
    fail     <kubeconfig fingerprint>  <failed at>  <reason>

A `fail` line is a probe that failed: for a short while the wrapper does not ask again, so a dead
cluster costs one timeout, not one per call. A success for the same fingerprint removes it.

The fingerprint is the kubeconfig paths with their mtime, size and inode, plus `--context`, the
other connection flags (`--server`, `--token`, ...: a secret only as a digest) and the variables
client-go falls back on: while none of them changed, the cluster and the credentials are the
same. The cluster key is the server URL and a digest of the credentials. Writes go through a
temporary file and a rename, so concurrent calls never see half a file (one of two racing
updates may be lost; it is only a cache). Standard library only, no `json` or `re` (each costs
the hot path 8-14 ms).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing and collections.abc cost every kubectl call
if TYPE_CHECKING:
    from collections.abc import Mapping

MAGIC = "kubeferry-version-cache 1"
MAX_LINES = 400


def cache_file(environ: Mapping[str, str], home: str) -> str:
    """Where the cache lives: the user's cache folder for this OS."""
    if sys.platform.startswith("win"):
        base = environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "kubeferry", "cache", "server-versions")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "kubeferry", "server-versions")
    base = environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "kubeferry", "server-versions")


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str], home: str) -> list[str]:
    """--kubeconfig, else the $KUBECONFIG list, else ~/.kube/config (client-go's rule)."""
    if explicit:
        return [explicit]
    listed = [p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [os.path.join(home, ".kube", "config")]


SECRET_FLAGS = frozenset({"token", "password"})
PATH_FLAGS = frozenset({"certificate-authority", "client-certificate", "client-key"})
FALLBACK_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_MASTER")


def digest(text: str) -> str:
    """FNV-1a (64 bits) of a secret flag: the cache tells tokens apart without holding them.

    Not a cryptographic hash (hashlib would load OpenSSL on every call); the file is private.
    """
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8", "surrogateescape"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _flag_part(name: str, value: str) -> str:
    if name in SECRET_FLAGS:
        value = digest(value)
    elif name in PATH_FLAGS and value:
        value = os.path.abspath(value)  # kubectl reads a relative path from the working folder
    return f"{name}={value}"


def fingerprint(
    paths: list[str],
    context: str | None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
) -> str:
    """Identity of the call's cluster: kubeconfig paths, mtimes, sizes and inodes, --context,
    the other connection flags, and the variables client-go falls back on."""
    parts = []
    for path in paths:
        try:
            info = os.stat(path)
            parts.append(f"{path}@{info.st_mtime_ns}:{info.st_size}:{info.st_ino}")
        except OSError:
            parts.append(f"{path}@-")
    parts.append(f"context={context or ''}")
    for name in sorted(flags or ()):
        if name not in ("context", "kubeconfig"):
            parts.append(_flag_part(name, (flags or {})[name]))
    for name in FALLBACK_VARIABLES:
        if environ is not None and environ.get(name):
            parts.append(f"{name}={environ[name]}")
    return _clean("|".join(parts))


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


class VersionCache:
    """Read once per call; `record()` writes back atomically."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.contexts: dict[str, tuple[str, float]] = {}
        self.clusters: dict[str, tuple[str, str, float]] = {}
        self.failures: dict[str, tuple[float, str]] = {}
        self._load()

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as stream:
                lines = stream.read().splitlines()
        except (OSError, UnicodeDecodeError):
            return
        if not lines or lines[0] != MAGIC:
            return
        for line in lines[1:]:
            fields = line.split("\t")
            try:
                if fields[0] == "ctx" and len(fields) == 4:
                    self.contexts[fields[1]] = (fields[2], float(fields[3]))
                elif fields[0] == "cluster" and len(fields) == 5:
                    self.clusters[fields[1]] = (fields[2], fields[3], float(fields[4]))
                elif fields[0] == "fail" and len(fields) == 4:
                    self.failures[fields[1]] = (float(fields[2]), fields[3])
            except ValueError:
                continue

    def fresh_entry(self, print_: str, now: float, ttl: float) -> tuple[str, float] | None:
        """(M.m.p, checked at) for this kubeconfig state when checked within `ttl` seconds."""
        entry = self.contexts.get(print_)
        if entry is None or ttl <= 0:
            return None
        cluster = self.clusters.get(entry[0])
        if cluster is None or now - cluster[2] > ttl or now < cluster[2]:
            return None
        return cluster[0], cluster[2]

    def recent_failure(self, print_: str, now: float, window: float) -> str | None:
        """Why the last probe for this kubeconfig state failed, if within `window` seconds."""
        failed = self.failures.get(print_)
        if failed is None or window <= 0 or not 0 <= now - failed[0] <= window:
            return None
        return failed[1]

    def record_failure(self, print_: str, reason: str, now: float) -> None:
        """Remember a failed probe for this kubeconfig state, and write the file."""
        self.failures[_clean(print_)] = (now, _clean(reason)[:300])
        self._write()

    def last_known(self, print_: str | None = None, cluster_key: str | None = None) -> str | None:
        """The last version seen for a cluster, however old (for an unreachable server)."""
        key = cluster_key or (self.contexts.get(print_ or "", ("", 0.0))[0])
        cluster = self.clusters.get(key) if key else None
        return cluster[0] if cluster else None

    def record(
        self, print_: str, cluster_key: str, version: str, git_version: str, now: float
    ) -> None:
        """Remember the answer for this kubeconfig state and cluster, and write the file."""
        self.contexts[_clean(print_)] = (_clean(cluster_key), now)
        self.clusters[_clean(cluster_key)] = (version, _clean(git_version), now)
        self.failures.pop(_clean(print_), None)
        self._write()

    def remember_context(self, print_: str, cluster_key: str, now: float) -> None:
        """Tie a kubeconfig state to a cluster without a new version (server unreachable)."""
        if cluster_key in self.clusters:
            self.contexts[_clean(print_)] = (_clean(cluster_key), now)
            self._write()

    def _write(self) -> None:
        contexts = sorted(self.contexts.items(), key=lambda item: item[1][1])[-MAX_LINES:]
        lines = [MAGIC]
        lines += [f"ctx\t{k}\t{v[0]}\t{v[1]:.3f}" for k, v in contexts]
        lines += [f"cluster\t{k}\t{v[0]}\t{v[1]}\t{v[2]:.3f}" for k, v in self.clusters.items()]
        failures = sorted(self.failures.items(), key=lambda item: item[1][0])[-MAX_LINES:]
        lines += [f"fail\t{k}\t{v[0]:.3f}\t{v[1]}" for k, v in failures]
        folder = os.path.dirname(self.path)
        temporary = f"{self.path}.{os.getpid()}.{id(self)}.tmp"
        try:
            os.makedirs(folder, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(descriptor, "w", encoding="utf-8") as stream:
                stream.write("\n".join(lines) + "\n")
            os.replace(temporary, self.path)
        except OSError:
            # A cache that cannot be written costs a probe next time, never the user's command.
            try:
                os.unlink(temporary)
            except OSError:
                pass
