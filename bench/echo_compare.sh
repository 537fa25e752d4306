#!/usr/bin/env bash
# Compares ringway's /echo route with min_echo (the minimal io_uring echo floor) on the same
# workloads: each server pinned to CPU 0 (taskset -c 0), the load generator to CPU 1. Prints a
# Markdown report with messages/s, messages per server CPU-second, latency, and the ratio
# ringway/min_echo of messages per server CPU-second.
#
#   bench/echo_compare.sh                    # 10 s per run after a 2 s warmup
#   DURATION=5 WARMUP=1 bench/echo_compare.sh
#   BUILD_DIR=build/profile bench/echo_compare.sh
#
# Needs: build/release/{src/app/ringway,bench/min_echo,bench/echo_load}, taskset, jq.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
REPEAT=${REPEAT:-3}
RINGWAY=$BUILD_DIR/src/app/ringway
MIN_ECHO=$BUILD_DIR/bench/min_echo
LOAD=$BUILD_DIR/bench/echo_load
# name:connections:depth:size
WORKLOADS=("100x20B-d1:100:1:20" "100x20B-d8:100:8:20")

for bin in "$RINGWAY" "$MIN_ECHO" "$LOAD"; do
  if [[ ! -x $bin ]]; then
    echo "missing $bin; build with:" >&2
    echo "  cmake -S . -B $BUILD_DIR -G Ninja && cmake --build $BUILD_DIR --target min_echo echo_load ringway" >&2
    exit 2
  fi
done
. bench/common.sh
bench_needs echo_compare taskset jq
bench_workdir

# start NAME OUTFILE PATTERN CMD...: starts a server pinned to CPU 0, waits for its listening
# line and sets PORT and PID.
start() {
  local name=$1 out=$2 pattern=$3
  shift 3
  taskset -c 0 "$@" >"$out" 2>"$out.err" &
  PID=$!
  pids+=("$PID")
  for _ in $(seq 100); do
    PORT=$(sed -n "s/^$pattern\([0-9][0-9]*\).*/\1/p" "$out" | head -1)
    [[ -n $PORT ]] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "echo_compare: $name did not start:" >&2
  cat "$out" "$out.err" >&2
  exit 1
}

start ringway "$work/ringway.out" 'ringway listening on 127\.0\.0\.1:' \
  "$RINGWAY" --listen 127.0.0.1:0 --workers 1
RW_PORT=$PORT RW_PID=$PID
start min_echo "$work/min_echo.out" 'min_echo listening on 127\.0\.0\.1:' \
  "$MIN_ECHO" --listen-addr 127.0.0.1 --port 0
ME_PORT=$PORT ME_PID=$PID

bench_busy

echo "# Echo comparison: ringway vs min_echo"
echo
echo "- date: $(date -Is)"
echo "- kernel: $(uname -r)"
echo "- nproc: $(nproc)"
echo "- CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "- command: $(printf '%q ' env DURATION="$DURATION" WARMUP="$WARMUP" REPEAT="$REPEAT" BUILD_DIR="$BUILD_DIR" "$0" "$@")"
echo "- ringway: $(head -1 "$work/ringway.out")"
echo "- servers on CPU 0, load on CPU 1: taskset -c 1 $LOAD --url ws://127.0.0.1:PORT/echo" \
  "--connections C --depth K --size S --duration $DURATION --warmup $WARMUP --server-pid PID --json"
echo "- machine busy before the runs: ${busy_pct}% of all CPUs over 1 s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
if (( busy_pct > 10 )); then
  echo "- **warning: other processes were using the CPUs; the numbers below are disturbed**"
fi
echo

status=0
rows=()
ratios=()
# Each workload runs REPEAT times per server, alternating which server goes first, so that a
# slow spell of this (shared, virtual) machine hits both; the report gives medians.
for w in "${WORKLOADS[@]}"; do
  IFS=: read -r wname conns depth size <<<"$w"
  declare -A per_cpu=()
  rep_ratios=()
  for rep in $(seq "$REPEAT"); do
    order=(ringway min_echo)
    (( rep % 2 == 0 )) && order=(min_echo ringway)
    declare -A this=()
    for server in "${order[@]}"; do
      if [[ $server == ringway ]]; then port=$RW_PORT pid=$RW_PID; else port=$ME_PORT pid=$ME_PID; fi
      json="$work/$server-$wname-$rep.json"
      if ! taskset -c 1 "$LOAD" --url "ws://127.0.0.1:$port/echo" --connections "$conns" \
          --depth "$depth" --size "$size" --duration "$DURATION" --warmup "$WARMUP" \
          --server-pid "$pid" --json >"$json" 2>"$json.err"; then
        status=1
        echo "echo_compare: $server $wname: echo_load failed:" >&2
        cat "$json.err" >&2
      fi
      if ! kill -0 "$pid" 2>/dev/null; then
        status=1
        echo "echo_compare: $server died during $wname; its stderr:" >&2
        tail -20 "$work/$server.out.err" >&2
      fi
      [[ -s $json ]] && this[$server]=$(jq -r '.msgs_per_server_cpu_s' "$json")
    done
    rep_ratios+=("$(awk -v a="${this[ringway]:-0}" -v b="${this[min_echo]:-0}" \
      'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')")
    unset this
  done
  for server in ringway min_echo; do
    files=("$work/$server-$wname-"*.json)
    col() { for f in "${files[@]}"; do [[ -s $f ]] && jq -r ".$1" "$f"; done | median; }
    per_cpu[$server]=$(col msgs_per_server_cpu_s)
    errors=$(for f in "${files[@]}"; do [[ -s $f ]] && jq -r '.errors' "$f"; done | awk '{ s += $1 } END { print s + 0 }')
    rows+=("$(printf '| %s | %s | %.0f | %.0f | %.1f | %.1f | %.1f | %d |' "$server" "$wname" \
      "$(col msgs_per_s)" "${per_cpu[$server]}" "$(col p50_us)" "$(col p99_us)" "$(col p999_us)" "$errors")")
  done
  ratio=$(awk -v a="${per_cpu[ringway]:-0}" -v b="${per_cpu[min_echo]:-0}" \
    'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  ratios+=("| $wname | $ratio | ${rep_ratios[*]} |")
  unset per_cpu
done

echo "Medians of $REPEAT runs per server and workload."
echo
echo "| server | workload | msgs/s | msgs per server CPU-s | p50 µs | p99 µs | p99.9 µs | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "| workload | ringway/min_echo, msgs per server CPU-s (medians) | each run's ratio |"
echo "|---|---:|---|"
printf '%s\n' "${ratios[@]}"
exit $status
