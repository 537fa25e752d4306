#!/usr/bin/env bash
# Installs every Debian 12 package Ringway's build, tests and tools use. Idempotent: it only
# calls apt-get when something is missing. Runs as root (or through sudo when available).
# Extra package names given as arguments are installed too (tools/setup-bench.sh uses that).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  liburing-dev libwslay-dev android-libboringssl-dev libmimalloc-dev libsimdjson-dev
  libcli11-dev libgtest-dev libbenchmark-dev libtomlplusplus-dev libhiredis-dev
  zlib1g-dev libdeflate-dev
  # test clients and helpers
  python3 python3-websockets python3-cryptography python3-pytest util-linux procps curl jq
  redis-server openssl chromium node-ws
  "$@"
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
