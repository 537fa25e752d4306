#!/usr/bin/env bash
# bench/fuzz_long.sh [MINUTES]: builds the libFuzzer targets (build/fuzz) and runs each one for
# MINUTES (default 10; 0 only minimises) on its corpus tests/fuzz/corpus/<name>/, then minimises
# that corpus: a libFuzzer merge of the old corpus and the run's new inputs into a fresh
# directory, which replaces the old one. The merge is -set_cover_merge=1 -use_counters=0: the
# fewest inputs that reach every edge the whole set reached (plain -merge=1 also keeps one
# input per hit-count bucket, hundreds of files for the JSON target). Hand-written seeds (any
# name that is not the 40-hex SHA-1 libFuzzer gives its files) are kept as they are. A finding
# stops the script before its corpus is touched; the input and the log are in build/fuzz/long/.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
case "$minutes" in
  '' | *[!0-9]*) echo "usage: bench/fuzz_long.sh [MINUTES]" >&2; exit 2 ;;
esac
bash tools/setup.sh
CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DRINGWAY_FUZZ=ON >/dev/null
cmake --build build/fuzz -j"$(nproc)"

# The same options as the ctest smoke runs (tests/fuzz/CMakeLists.txt): any report is fatal.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
long=build/fuzz/long
mkdir -p "$long"
echo "fuzz_long: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), $minutes min per target"

for src in tests/fuzz/fuzz_*.cc; do
  name="$(basename "$src" .cc)"
  corpus_name="${name#fuzz_}"
  bin="build/fuzz/tests/fuzz/$name"
  corpus="tests/fuzz/corpus/$corpus_name"
  work="$long/$corpus_name.new"
  fresh="$long/$corpus_name.merged"
  log="$long/$name.log"
  rm -rf "$work" "$fresh"
  mkdir -p "$work" "$fresh" "$corpus"

  if [ "$minutes" -gt 0 ]; then
    echo "== $name: fuzzing $minutes min (log: $log)"
    if ! "$bin" -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -timeout=5 \
        -print_final_stats=1 -artifact_prefix="$long/$name-" "$work" "$corpus" >"$log" 2>&1; then
      tail -n 60 "$log"
      echo "fuzz_long: $name found something (input and log under $long/)" >&2
      exit 1
    fi
    grep -E '^stat::(number_of_executed_units|new_units_added):' "$log" | sed 's/^/   /'
  fi

  for f in "$corpus"/*; do
    if [[ -f "$f" && ! "$(basename "$f")" =~ ^[0-9a-f]{40}$ ]]; then cp "$f" "$fresh"/; fi
  done
  "$bin" -set_cover_merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=5 \
      "$fresh" "$corpus" "$work" >"$log.merge" 2>&1 || {
    tail -n 30 "$log.merge"
    echo "fuzz_long: merging $name's corpus failed" >&2
    exit 1
  }
  before="$(find "$corpus" -maxdepth 1 -type f | wc -l)"
  rm -rf "$corpus"
  mv "$fresh" "$corpus"
  files="$(find "$corpus" -maxdepth 1 -type f | wc -l)"
  kib="$(du -sk --apparent-size "$corpus" | cut -f1)"
  echo "   corpus $corpus: $before -> $files files, $kib KiB"
  if [ "$files" -gt 200 ] || [ "$kib" -gt 1024 ]; then
    echo "   warning: over the 200 files / 1 MiB the repository keeps per corpus" >&2
  fi
done
