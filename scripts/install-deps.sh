#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Install the Debian 12 packages needed to build and test iothreadd, but
# only those missing: on a machine that has them all this prints nothing
# and needs no network and no root.  IOTHREADD_SKIP_DEPS=1 skips it all.
set -euo pipefail

PACKAGES=(
    build-essential pkg-config
    libjansson-dev liburing-dev libsystemd-dev  # the product's libraries
    python3              # integration tests
    spin                 # model checking of the wake-up protocol
    mandoc               # man page lint
    socat                # QMP sessions in docs and tests
    systemd              # systemd-analyze, systemd-socket-activate
    clang libclang-rt-14-dev  # sanitizers and libFuzzer
    qemu-system-common   # qemu-storage-daemon: QMP behaviour to compare with
    libglib2.0-dev       # test-only: tests/test-gsource.c (mk/gsource.mk)
    qemu-utils libnbd-bin python3-libnbd  # NBD tests: real clients (tests/nbd/)
    fio                  # its nbd engine: tests/daemon/test_nbd_export.py
)

[ "${IOTHREADD_SKIP_DEPS:-0}" = 1 ] && exit 0
# Other package sets (make bench's peers) may be named instead.
[ $# -gt 0 ] && PACKAGES=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing packages: ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        echo "error: missing packages (run as root): apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
