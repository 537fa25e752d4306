#!/usr/bin/env bash
# tools/build.sh [Release|Debug|Asan|Tsan|Profile]: configures and builds into
# build/<type, lowercase>. Asan is ASan+UBSan, Tsan is ThreadSanitizer (see CMakeLists.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-Release}"
case "$type" in
  Release|Debug|Asan|Tsan|Profile) ;;
  *) echo "build.sh: unknown build type '$type' (Release, Debug, Asan, Tsan, Profile)" >&2; exit 2 ;;
esac
dir="build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
cmake --build "$dir" -j"$(nproc)"
