#!/usr/bin/env bash
# bench/deflate_compare.sh: permessage-deflate's costs in one run of build/release/bench/
# deflate_bench (bench/deflate_bench.cc): CPU per message and bytes on the wire for device JSON of
# 100 B, 1 KiB and 16 KiB with zlib's sync flush (what Ringway sends) and libdeflate at levels 1
# and 6; inflating; a 1 KiB publish to 10k deflate subscribers compressed once against once per
# recipient; and the heap one connection holds with deflate on and with context takeover.
# Prints date, commit, machine and the command with the table.
#
#   bash bench/deflate_compare.sh        (BUILD_DIR=build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
B="${BUILD_DIR:-build/release}"
cmake --build "$B" --target deflate_bench >/dev/null
cmd=("$B/bench/deflate_bench" --benchmark_min_time=0.3 --benchmark_counters_tabular=true)

echo "# permessage-deflate: zlib and libdeflate, fan-out, memory"
echo
echo "date $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (modified)'),"
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), Linux $(uname -r),"
echo "zlib $(dpkg-query -W -f='${Version}' zlib1g 2>/dev/null), libdeflate $(dpkg-query -W -f='${Version}' libdeflate0 2>/dev/null),"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "command: ${cmd[*]}"
echo
echo '```'
"${cmd[@]}" 2>/dev/null
echo '```'
