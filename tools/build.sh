#!/usr/bin/env bash
# tools/build.sh [Release|Debug|Asan|Profile]: configures and builds into build/<type, lowercase>.
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-Release}"
dir="build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
cmake --build "$dir" -j"$(nproc)"
