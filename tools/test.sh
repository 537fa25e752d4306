#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the release build, the sanitizer
# (ASan+UBSan) build, and a short smoke run of each fuzz target (clang/libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
jobs="$(nproc)"

echo "== release build and tests"
bash tools/build.sh Release
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan+UBSan) and tests"
bash tools/build.sh Asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"

echo "== fuzz smoke runs"
CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DRINGWAY_FUZZ=ON >/dev/null
cmake --build build/fuzz -j"$jobs"
ctest --test-dir build/fuzz --output-on-failure -j"$jobs"
