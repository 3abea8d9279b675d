"""Help text data: examples per command, the environment variables, which globals apply.

Plain data so `--help` costs no imports; `cli/help.py` draws it. Keys are command paths
without the program name ("bundle create").
"""

from __future__ import annotations

from typing import Final

EXAMPLES: Final[dict[str, tuple[str, ...]]] = {
    "": (
        "kubeferry versions",
        "kubeferry bundle create /media/bundle --k3s stable --os linux --os windows",
        "KUBEFERRY_OFFLINE=1 kubeferry bundle install /media/bundle",
        "kubeferry doctor --quick",
    ),
    "version": ("kubeferry version", "kubeferry version -o json"),
    "completion": (
        'eval "$(kubeferry completion bash)"      # in ~/.bashrc',
        'eval "$(kubeferry completion zsh)"       # in ~/.zshrc',
        "kubeferry completion fish > ~/.config/fish/completions/kubeferry.fish",
    ),
    "versions": ("kubeferry versions", "kubeferry --offline versions --json"),
    "doctor": ("kubeferry doctor --quick", "kubeferry doctor --json"),
    "bundle": (
        "kubeferry bundle create /media/bundle --k3s stable",
        "kubeferry bundle inspect /media/bundle",
    ),
    "bundle create": (
        "kubeferry bundle create /media/bundle --k3s stable --k3s 1.30 --dry-run",
        "kubeferry bundle create /media/bundle --k3s stable --os linux --os windows --arch amd64",
        "kubeferry bundle create /media/bundle --k3s v1.31.4+k3s1 --kubectl none",
        "kubeferry bundle create /media/bundle --k3s stable --sign-key ~/keys/kubeferry.key",
    ),
    "bundle inspect": (
        "kubeferry bundle inspect /media/bundle",
        "kubeferry bundle inspect /media/bundle -o json",
    ),
    "bundle verify": (
        "kubeferry bundle verify /media/bundle",
        "kubeferry bundle verify /media/bundle --key /etc/kubeferry/platform-team.pub",
    ),
    "bundle sign": (
        "kubeferry bundle sign /media/bundle --key ~/keys/kubeferry.key",
        "kubeferry bundle sign /media/bundle --key ~/keys/kubeferry.key --password-stdin < pass",
    ),
    "keys": ("kubeferry keys generate ~/keys",),
    "keys generate": (
        "kubeferry keys generate ~/keys",
        "kubeferry keys generate ~/keys --password-stdin < passphrase.txt",
    ),
    "bundle install": (
        "KUBEFERRY_OFFLINE=1 kubeferry bundle install /media/bundle",
        "kubeferry bundle install --home /mnt/user /media/bundle",
        "kubeferry bundle install /media/bundle --key /etc/kubeferry/platform-team.pub",
        "kubeferry bundle install registry.local:5000/kubeferry/bundle:2026-11",
    ),
    "bundle push": (
        "kubeferry bundle push /media/bundle registry.local:5000/kubeferry/bundle:2026-11",
    ),
    "bundle pull": ("kubeferry bundle pull registry.local:5000/kubeferry/bundle:2026-11 ./bundle",),
    "cache": ("kubeferry cache list", "kubeferry cache add stable"),
    "cache add": (
        "kubeferry cache add stable",
        "kubeferry cache add 1.30 v1.31.4+k3s1 --arch amd64,arm64",
        "kubeferry cache add stable --connections 8    # a mirror that limits each connection",
    ),
    "cache list": ("kubeferry cache list", "kubeferry cache list -o json"),
    "cache clean": ("kubeferry cache clean", "kubeferry cache clean --json"),
    "cache verify": ("kubeferry cache verify", "kubeferry cache verify --repair"),
    "cache remove": ("kubeferry cache remove v1.30.6+k3s1",),
    "catalog": ("kubeferry catalog update",),
    "catalog update": ("kubeferry catalog update", "kubeferry catalog update --min-version 1.28.0"),
    "catalog convert": (
        "kubeferry catalog convert --channels channels.json --releases releases.json",
        "kubeferry catalog convert --channels channels.json --releases page1.json -o -",
    ),
    "kubectl": ("kubeferry kubectl list", "kubeferry kubectl get 1.31"),
    "kubectl list": ("kubeferry kubectl list", "kubeferry kubectl list -o json"),
    "kubectl get": ("kubeferry kubectl get 1.31", "kubeferry kubectl get 1.30.6 --connections 8"),
    "kubectl remove": (
        "kubeferry kubectl remove 1.29.4",
        "kubeferry kubectl remove 1.29.4 --os windows",
    ),
    "kubectl which": ("kubeferry kubectl which", "kubeferry kubectl which --context prod -o json"),
    "shim": ("kubeferry shim install", "kubeferry shim uninstall"),
    "shim install": (
        "kubeferry shim install",
        "kubeferry shim install --dir /usr/local/bin --force",
    ),
    "shim uninstall": ("kubeferry shim uninstall", "kubeferry shim uninstall --dir /usr/local/bin"),
    "images": ("kubeferry images push /media/bundle --to registry.local:5000",),
    "images push": (
        "kubeferry images push /media/bundle --to registry.local:5000",
        "kubeferry images push v1.30.6+k3s1 --to registry.local:5000/k3s",
        "kubeferry images push k3s-airgap-images-amd64.tar.zst --to registry.local:5000",
    ),
    "mirror": ("kubeferry mirror serve /media/bundle",),
    "mirror serve": (
        "kubeferry mirror serve /media/bundle --listen 0.0.0.0:8080",
        "kubeferry mirror serve /media/bundle --key /etc/kubeferry/platform-team.pub",
    ),
    "mirror export": (
        "kubeferry mirror export /media/bundle /srv/www/kubeferry --base-url http://mirror.lan",
    ),
    "registries": (
        "kubeferry registries check",
        "kubeferry registries write --mirror registry.local:5000",
    ),
    "registries check": (
        "kubeferry registries check",
        "kubeferry registries check ./node-registries.yaml    # a file written with --for FILE",
    ),
    "node": (
        "kubeferry node install /media/bundle",
        "kubeferry node check",
    ),
    "node install": (
        "kubeferry node install /media/bundle --k3s 1.30 --exec 'server --disable traefik'",
        "kubeferry node install http://mirror.corp:8080 --registry-mirror registry.corp:5000",
        "kubeferry node install registry.corp:5000/platform/offline:2026-11 --agent \\\n"
        "    --server https://10.0.0.1:6443 --token-file /etc/k3s-token",
        "kubeferry node install /media/bundle --root /mnt/image --dry-run",
    ),
    "node check": ("kubeferry node check", "kubeferry node check --root /mnt/image --json"),
    "registries write": (
        "kubeferry registries write --mirror registry.local:5000",
        "kubeferry registries write --mirror registry.local:5000 --plain-http",
    ),
}

ENVIRONMENT: Final[tuple[tuple[str, str], ...]] = (
    (
        "KUBEFERRY_OFFLINE",
        "1/true/yes/on: never touch the network (like --offline); 0/false/no/off: online.",
    ),
    ("KUBEFERRY_CACHE_DIR", "Rancher Desktop cache folder (like --cache-dir)."),
    (
        "KUBEFERRY_MIRROR",
        "Base URL of a kubeferry mirror; all five endpoints below are taken from it.",
    ),
    (
        "KUBEFERRY_K3S_CHANNELS_URL",
        "The k3s channel list (default update.k3s.io/v1-release/channels).",
    ),
    ("KUBEFERRY_K3S_RELEASES_URL", "The k3s GitHub releases API."),
    ("KUBEFERRY_K3S_DOWNLOAD_URL", "Where k3s release files are downloaded from."),
    (
        "KUBEFERRY_K3S_INSTALL_SCRIPT_URL",
        "k3s's install.sh, as <this>/<tag>/install.sh (default raw.githubusercontent.com/"
        "k3s-io/k3s).",
    ),
    (
        "KUBEFERRY_KUBECTL_MIRROR_URL",
        "Where kubectl is downloaded from (beats kuberlr's KubeMirrorUrl).",
    ),
    (
        "KUBEFERRY_SPEED_LIMIT",
        "Bytes/s below which a download counts as stalled (default 1024; 0: never).",
    ),
    ("KUBEFERRY_SPEED_TIME", "Seconds below the speed limit before a stall (default 30)."),
    (
        "KUBEFERRY_SOURCE_ENDPOINTS",
        "A comma list of HOST=URL: fetch images of HOST from URL (like --source-endpoint).",
    ),
    ("KUBEFERRY_TIMEOUT", "Seconds one download attempt may take in all (like --timeout)."),
    ("KUBEFERRY_VERSION_CACHE_TTL", "Wrapper: seconds a cluster's version answer stays fresh."),
    (
        "KUBEFERRY_REVALIDATE_AFTER",
        "Wrapper: seconds after which it re-asks the cluster in the background.",
    ),
    ("KUBEFERRY_SERVICEACCOUNT_DIR", "Wrapper: in-cluster service account folder (for tests)."),
    ("KUBERLR_CFG", "An extra kuberlr.conf, read after ~/.kuberlr/kuberlr.conf."),
    ("KUBERLR_ALLOWDOWNLOAD", "true/false: may the wrapper download a missing kubectl."),
    ("KUBERLR_USELATESTIFNOCOMPATIBLE", "true/false: run the newest kubectl when none fits."),
    ("KUBERLR_SYSTEMPATH", "Folder of a system kubectl (default /usr/bin)."),
    ("KUBERLR_TIMEOUT", "Seconds the wrapper waits for the cluster's version."),
    ("KUBERLR_KUBEMIRRORURL", "Where kuberlr and the wrapper download kubectl from."),
    (
        "KUBEFERRY_TRUSTED_KEYS",
        "Trusted public keys for bundles: files or folders, separated like PATH.",
    ),
    ("KUBEFERRY_KEY_PASSWORD", "Passphrase of an encrypted private key (keys, bundle sign)."),
    ("NO_COLOR", "Any value: plain output (kubeferry prints plain text unless on a terminal)."),
)

_NETWORK: Final = (
    "KUBEFERRY_OFFLINE",
    "KUBEFERRY_CACHE_DIR",
    "KUBEFERRY_MIRROR",
    "KUBEFERRY_TIMEOUT",
    "KUBEFERRY_K3S_CHANNELS_URL",
    "KUBEFERRY_K3S_RELEASES_URL",
    "KUBEFERRY_K3S_DOWNLOAD_URL",
    "KUBEFERRY_K3S_INSTALL_SCRIPT_URL",
)
_KUBECTL: Final = (
    "KUBEFERRY_OFFLINE",
    "KUBEFERRY_MIRROR",
    "KUBEFERRY_KUBECTL_MIRROR_URL",
    "KUBERLR_CFG",
    "KUBERLR_SYSTEMPATH",
    "KUBERLR_KUBEMIRRORURL",
)
ENVIRONMENT_FOR: Final[dict[str, tuple[str, ...]]] = {
    "bundle": (
        *_NETWORK,
        "KUBEFERRY_KUBECTL_MIRROR_URL",
        "KUBERLR_KUBEMIRRORURL",
        "KUBEFERRY_SOURCE_ENDPOINTS",
        "KUBEFERRY_TRUSTED_KEYS",
        "KUBEFERRY_KEY_PASSWORD",
    ),
    "bundle push": ("KUBEFERRY_OFFLINE",),  # a registry only: no k3s or kubectl source
    "bundle pull": ("KUBEFERRY_OFFLINE", "KUBEFERRY_TRUSTED_KEYS"),
    "bundle install": ("KUBEFERRY_OFFLINE", "KUBEFERRY_CACHE_DIR", "KUBEFERRY_TRUSTED_KEYS"),
    "bundle verify": ("KUBEFERRY_TRUSTED_KEYS",),  # the folder it is given, the keys it trusts
    "bundle inspect": ("KUBEFERRY_TRUSTED_KEYS",),
    "bundle sign": ("KUBEFERRY_KEY_PASSWORD",),
    "keys": ("KUBEFERRY_KEY_PASSWORD",),
    "cache": _NETWORK,
    "catalog": _NETWORK,
    "versions": _NETWORK,
    "doctor": (*_NETWORK, "KUBERLR_CFG", "KUBERLR_SYSTEMPATH"),
    "kubectl": _KUBECTL,
    "shim": (*_KUBECTL, "KUBERLR_ALLOWDOWNLOAD", "KUBERLR_TIMEOUT", "KUBEFERRY_VERSION_CACHE_TTL"),
    "version": ("KUBEFERRY_CACHE_DIR", "KUBEFERRY_OFFLINE", "KUBERLR_CFG"),
    "images": ("KUBEFERRY_OFFLINE", "KUBEFERRY_CACHE_DIR"),
    "mirror": ("KUBEFERRY_TRUSTED_KEYS",),
    "registries": (),
    "node": (*_NETWORK, "KUBEFERRY_CACHE_DIR"),
    "completion": (),
}
"""Command path (or its group) -> the variables it reads (the root help lists them all)."""

ALL_GLOBALS: Final = ("--cache-dir", "--home", "--os", "--arch", "--offline", "-v", "-q", "--debug")
_OUTPUT_ONLY: Final = ("-v", "-q", "--debug")
GLOBALS_FOR: Final[dict[str, tuple[str, ...]]] = {
    "completion": (),
    "keys": _OUTPUT_ONLY,
    "bundle sign": _OUTPUT_ONLY,
    "bundle verify": _OUTPUT_ONLY,
    "bundle inspect": _OUTPUT_ONLY,
    "mirror": _OUTPUT_ONLY,
    "node check": _OUTPUT_ONLY,
}
"""Command path (or its group) -> the global options that change what it does; default all
(only where none of the others can matter: a command that reads only the folder it is given)."""
