#!/usr/bin/env bash
# tools/test.sh [STAGE...]: installs what is missing, builds, and runs the test stages (all of
# them by default, in this order): release (unit + integration), asan (ASan+UBSan build, same
# tests), tsan (ThreadSanitizer build, same tests), fuzz (a short run of each libFuzzer target).
# Any sanitizer report fails its stage. docs/testing.md describes the stages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
jobs="$(nproc)"
# ctest with every test's output on failure; no tests at all is an error, and with CI=true so is
# any entry that did not run (a GTEST_SKIP, a disabled test).
ctest_run() {
  local log
  log="$(mktemp)"
  ctest --output-on-failure --no-tests=error -j"$jobs" "$@" | tee "$log"
  if [ "${CI:-}" = true ] && grep -q "The following tests did not run" "$log"; then
    rm -f "$log"
    echo "test.sh: with CI=true every ctest entry must run (docs/testing.md)" >&2
    return 1
  fi
  rm -f "$log"
}

stage_release() {
  bash tools/build.sh Release
  ctest_run --test-dir build/release
}

stage_asan() {
  bash tools/build.sh Asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest_run --test-dir build/asan
}

stage_tsan() {
  bash tools/build.sh Tsan
  # A report ends the process at once with exit code 66; the integration tests also fail a
  # server whose stderr holds "ThreadSanitizer".
  TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1 \
    ctest_run --test-dir build/tsan -L 'unit|integration'
}

stage_fuzz() {
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DRINGWAY_FUZZ=ON >/dev/null
  cmake --build build/fuzz -j"$jobs"
  ctest_run --test-dir build/fuzz -L fuzz
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(release asan tsan fuzz)
for s in "${stages[@]}"; do
  if ! declare -F "stage_$s" >/dev/null; then
    echo "test.sh: unknown stage '$s' (release, asan, tsan, fuzz)" >&2
    exit 2
  fi
done
for s in "${stages[@]}"; do
  echo "== stage $s"
  start=$SECONDS
  "stage_$s"
  echo "== stage $s passed in $((SECONDS - start)) s"
done
