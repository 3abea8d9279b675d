"""What the wrapper's decision reads: configuration, folders, flags, environment, clock."""

from __future__ import annotations

import time

from kubeferry.core.kuberlr import all_binaries, folder
from kubeferry.core.kuberlr_config import Config
from kubeferry.core.platforms import host_platform
from kubeferry.shim.argv import connection_flags
from kubeferry.shim.versioncache import fingerprint, kubeconfig_paths

TYPE_CHECKING = False  # typing and collections.abc cost every kubectl call
if TYPE_CHECKING:
    from collections.abc import Mapping


class Context:
    """Everything `decide` reads; built once per call."""

    def __init__(
        self, config: Config, environ: Mapping[str, str], args: list[str], now: float | None = None
    ) -> None:
        self.config = config
        self.environ = environ
        self.os, self.arch = host_platform()
        self.windows = self.os == "windows"
        self.local_dir = folder(config.home, self.os, self.arch)
        self.args = args
        self.flags = connection_flags(args)
        self.context = self.flags.get("context")
        self.kubeconfig = self.flags.get("kubeconfig")
        self.now = time.time() if now is None else now
        self.binaries = all_binaries(self.local_dir, config.system_path, windows=self.windows)

    def kubeconfig_paths(self) -> list[str]:
        """--kubeconfig, else $KUBECONFIG, else ~/.kube/config."""
        return kubeconfig_paths(self.kubeconfig, self.environ, self.config.home)

    def flag_words(self) -> list[str]:
        """The connection flags as `--name=value` words, for the detached refresher."""
        words = []
        for name, value in self.flags.items():
            for one in value.split("\n") if name == "as-group" else (value,):
                words.append(f"--{name}={one}")
        return words

    def fingerprint(self) -> str:
        """The version-cache key of this call: kubeconfig state, flags, fallbacks."""
        return fingerprint(self.kubeconfig_paths(), self.context, self.environ, self.flags)
