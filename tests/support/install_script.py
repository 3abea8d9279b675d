# ruff: noqa: E501  (the shell script keeps its long lines)
"""A stand-in for k3s's `install.sh`, served by the test upstream at each release's tag.

It does what k3s's script does with INSTALL_K3S_SKIP_DOWNLOAD=true, and the dangerous parts
too: it requires an executable `$BIN_DIR/k3s`, runs `systemctl disable`, removes
`/etc/systemd/system/<name>.service` (and `.env`) on the host whatever INSTALL_K3S_SYSTEMD_DIR
says, writes the killall/uninstall scripts and the kubectl/crictl/ctr links into BIN_DIR, the
unit and its `.env` (K3S_* variables, mode 0600) into SYSTEMD_DIR, and enables/starts the unit
unless INSTALL_K3S_SKIP_ENABLE/START. It writes every variable it got into
`$(dirname $BIN_DIR)/install-sh.record` (KEY=VALUE lines) for the test to read.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = r"""#!/bin/sh
# stand-in for k3s's install.sh at @TAG@ (kubeferry tests)
set -e
fatal() { echo "[ERROR] $*" >&2; exit 1; }
[ "${INSTALL_K3S_SKIP_DOWNLOAD}" = true ] || fatal "this stand-in installs only with INSTALL_K3S_SKIP_DOWNLOAD=true"
type systemctl >/dev/null 2>&1 || fatal "Can not find systemd or openrc to use as a process supervisor for k3s"
BIN_DIR=${INSTALL_K3S_BIN_DIR:-/usr/local/bin}
SYSTEMD_DIR=${INSTALL_K3S_SYSTEMD_DIR:-/etc/systemd/system}
case "${K3S_URL}" in ""|https://*) ;; *) fatal "Only https:// URLs are supported for K3S_URL (have ${K3S_URL})" ;; esac
set -- ${INSTALL_K3S_EXEC}
case "$1" in
    -*|"")
        if [ -z "${K3S_URL}" ]; then CMD_K3S=server; else
            [ -n "${K3S_TOKEN}" ] || [ -n "${K3S_TOKEN_FILE}" ] || fatal "K3S_URL without K3S_TOKEN or K3S_TOKEN_FILE"
            CMD_K3S=agent
        fi ;;
    *) CMD_K3S=$1; shift ;;
esac
if [ "${CMD_K3S}" = server ]; then SYSTEM_NAME=k3s; else SYSTEM_NAME=k3s-${CMD_K3S}; fi
[ -x "${BIN_DIR}/k3s" ] || fatal "Executable k3s binary not found at ${BIN_DIR}/k3s"
echo "[INFO]  Skipping k3s download and verify"
for cmd in kubectl crictl ctr; do
    [ -e "${BIN_DIR}/${cmd}" ] || ln -sf k3s "${BIN_DIR}/${cmd}"
done
printf '#!/bin/sh\necho killall\n' > "${BIN_DIR}/k3s-killall.sh"; chmod 755 "${BIN_DIR}/k3s-killall.sh"
printf '#!/bin/sh\necho uninstall\n' > "${BIN_DIR}/${SYSTEM_NAME}-uninstall.sh"; chmod 755 "${BIN_DIR}/${SYSTEM_NAME}-uninstall.sh"
systemctl disable ${SYSTEM_NAME} >/dev/null 2>&1 || true
rm -f /etc/systemd/system/${SYSTEM_NAME}.service || true
rm -f /etc/systemd/system/${SYSTEM_NAME}.service.env || true
mkdir -p "${SYSTEMD_DIR}"
FILE_ENV="${SYSTEMD_DIR}/${SYSTEM_NAME}.service.env"
touch "${FILE_ENV}"; chmod 0600 "${FILE_ENV}"
env | grep -E '^(K3S|CONTAINERD)_' > "${FILE_ENV}" || true
printf '[Service]\nEnvironmentFile=-%s\nExecStart=%s/k3s %s %s\n' "${FILE_ENV}" "${BIN_DIR}" "${CMD_K3S}" "$*" > "${SYSTEMD_DIR}/${SYSTEM_NAME}.service"
ENABLED=no; STARTED=no
if [ "${INSTALL_K3S_SKIP_ENABLE}" != true ]; then
    systemctl enable "${SYSTEMD_DIR}/${SYSTEM_NAME}.service"; ENABLED=yes
    if [ "${INSTALL_K3S_SKIP_START}" != true ]; then systemctl restart ${SYSTEM_NAME}; STARTED=yes; fi
fi
{
    echo "STAND_IN_TAG=@TAG@"
    echo "INSTALL_K3S_SKIP_DOWNLOAD=${INSTALL_K3S_SKIP_DOWNLOAD}"
    echo "INSTALL_K3S_VERSION=${INSTALL_K3S_VERSION}"
    echo "INSTALL_K3S_BIN_DIR=${INSTALL_K3S_BIN_DIR}"
    echo "INSTALL_K3S_SYSTEMD_DIR=${INSTALL_K3S_SYSTEMD_DIR}"
    echo "INSTALL_K3S_SKIP_ENABLE=${INSTALL_K3S_SKIP_ENABLE}"
    echo "INSTALL_K3S_SKIP_START=${INSTALL_K3S_SKIP_START}"
    echo "INSTALL_K3S_EXEC=${INSTALL_K3S_EXEC}"
    echo "K3S_URL=${K3S_URL}"
    echo "K3S_TOKEN_FILE=${K3S_TOKEN_FILE}"
    echo "K3S_TOKEN_SET=${K3S_TOKEN:+yes}"
    echo "SYSTEM_NAME=${SYSTEM_NAME}"
    echo "SYSTEMCTL=$(command -v systemctl)"
    echo "ENABLED=${ENABLED}"
    echo "STARTED=${STARTED}"
} > "$(dirname "${BIN_DIR}")/install-sh.record"
echo "[INFO]  systemd: Creating service file ${SYSTEMD_DIR}/${SYSTEM_NAME}.service"
"""


def stand_in_install_script(tag: str) -> bytes:
    """The stand-in install.sh of `tag`."""
    return TEMPLATE.replace("@TAG@", tag).encode()


def script_path(tag: str) -> str:
    """Where the test upstream serves it (KUBEFERRY_K3S_INSTALL_SCRIPT_URL = <url>/raw/k3s-io/k3s)."""
    return f"/raw/k3s-io/k3s/{tag}/install.sh"


def read_record(bin_dir: Path) -> dict[str, str]:
    """The variables the stand-in got, from `$(dirname BIN_DIR)/install-sh.record`."""
    text = (bin_dir.parent / "install-sh.record").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
