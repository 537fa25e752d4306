#!/usr/bin/env bash
# bench/idle_cpu.sh: the server CPU idle connections cost. For each count in CONNS (default
# "2000 10000") a fresh ringway (--workers WORKERS, default 2, default deadlines: a ping every
# 30 s) holds that many upgraded /echo connections from `ringway-load idle` for HOLD (default
# 40s, so every connection gets one ping and answers it); the server's utime+stime over the hold
# is ringway-load's --server-pid measurement (/proc/PID/stat, 10 ms ticks). Prints date,
# commit, machine and the commands with the table.
#
#   bash bench/idle_cpu.sh            (CONNS="2000 10000" WORKERS=2 HOLD=40s BUILD_DIR=build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
B="${BUILD_DIR:-build/release}"
CONNS="${CONNS:-2000 10000}"
WORKERS="${WORKERS:-2}"
HOLD="${HOLD:-40s}"
cmake --build "$B" --target ringway ringway-load >/dev/null
work=$(mktemp -d)
srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "# Idle connections: server CPU"
echo
echo "date $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (modified)'),"
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), Linux $(uname -r),"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| connections | held | hold s | server CPU s | % of one core | errors |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in $CONNS; do
  "$B/src/app/ringway" --listen 127.0.0.1:0 --workers "$WORKERS" >"$work/out" 2>"$work/err" &
  srv=$!
  for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.05; done
  port=$(grep -oP 'listening on 127.0.0.1:\K[0-9]+' "$work/out")
  cmd=("$B/tools/ringway-load" idle --url "ws://127.0.0.1:$port/echo" --connections "$n"
       --duration "$HOLD" --server-pid "$srv" --quiet --json)
  "${cmd[@]}" >"$work/idle.json"
  kill -TERM "$srv"
  wait "$srv" || true
  srv=""
  # 0 means less than one clock tick (10 ms) over the whole hold.
  jq -r '"| \(.connections) | \(.connected) | \(.duration_s) | " +
         "\(if .server_cpu_s > 0 then .server_cpu_s else "< 0.01" end) | " +
         "\(if .server_cpu_s > 0 then (.server_cpu_s / .duration_s * 10000 | round / 100)
            else "< \(1 / .duration_s | . * 100 | round / 100)" end) | \(.errors) |"' "$work/idle.json"
done
echo
echo "Commands (a fresh server for each row):"
echo "    $B/src/app/ringway --listen 127.0.0.1:0 --workers $WORKERS"
echo "    $B/tools/ringway-load idle --url ws://127.0.0.1:PORT/echo --connections N --duration $HOLD --server-pid PID --quiet --json"
