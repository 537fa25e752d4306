#!/usr/bin/env bash
# permessage-deflate through the real server, in one run (bench/deflate_compare.sh measures the
# codec alone): for each --deflate mode (off, on, takeover) a fresh `ringway --workers 1` on CPU 0
# and `ringway-load` on CPU 1.
#  1. echo of device JSON (`--payload json`) of 100 B, 1 KiB and 16 KiB, the load offering
#     deflate and compressing what it sends, open loop at ECHO_RATE messages/s for every mode (a
#     closed loop would run at the pace of the one-core client, which compresses and inflates
#     too, and so batch less per server turn in the compressed modes): wire bytes per message
#     each way and server CPU per message;
#  2. fan-out of 1 KiB JSON to SUBSCRIBERS deflate subscribers: `on` compresses each publish
#     once and shares the frame, `takeover` compresses it once per recipient (each connection's
#     own stream): server CPU per delivery;
#  3. idle: user-space bytes per idle deflate connection (server RSS slope, IDLE_SMALL vs
#     IDLE_LARGE connections).
#
#   bash bench/deflate_e2e.sh            (QUICK=1: shorter runs, 2k subscribers)
#
# Knobs: DURATION=5 WARMUP=1 CONNECTIONS=50 ECHO_RATE=5000 SUBSCRIBERS=10k RATE=10 IDLE_SMALL=2000
# IDLE_LARGE=10000 BUILD_DIR=build/release NO_BUILD=1 NO_SETUP=1
# Prints a Markdown report on stdout and writes it to build/bench-results/deflate-<date>.md (raw
# JSON and commands beside it). Exits nonzero if a run failed or reported errors.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
[[ ${NO_SETUP:-0} == 1 ]] || bash tools/setup.sh >/dev/null
BUILD_DIR=${BUILD_DIR:-build/release}
if [[ ${QUICK:-0} == 1 ]]; then
  DURATION=${DURATION:-2} WARMUP=${WARMUP:-1} SUBSCRIBERS=${SUBSCRIBERS:-2k}
  IDLE_SMALL=${IDLE_SMALL:-500} IDLE_LARGE=${IDLE_LARGE:-2000}
fi
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-50}
ECHO_RATE=${ECHO_RATE:-5000}
SUBSCRIBERS=${SUBSCRIBERS:-10k}
RATE=${RATE:-10}
IDLE_SMALL=${IDLE_SMALL:-2000}
IDLE_LARGE=${IDLE_LARGE:-10000}
MODES="off on takeover"
CHANNEL=bench.deflate
SOURCES=127.0.0.1-127.0.0.8
COMMAND="$(printf '%q ' env QUICK="${QUICK:-0}" DURATION="$DURATION" WARMUP="$WARMUP" \
  CONNECTIONS="$CONNECTIONS" ECHO_RATE="$ECHO_RATE" SUBSCRIBERS="$SUBSCRIBERS" RATE="$RATE" IDLE_SMALL="$IDLE_SMALL" \
  IDLE_LARGE="$IDLE_LARGE" bash bench/deflate_e2e.sh)"

say() { echo "deflate_e2e: $*" >&2; }
bench_needs deflate_e2e taskset jq curl sha256sum od

RINGWAY=$BUILD_DIR/src/app/ringway
LOAD=$BUILD_DIR/tools/ringway-load
if [[ ${NO_BUILD:-0} != 1 ]]; then
  [[ -f $BUILD_DIR/build.ninja ]] || cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target ringway ringway-load >"$BUILD_DIR/deflate_e2e-build.log" 2>&1 ||
    { say "the build failed (see $BUILD_DIR/deflate_e2e-build.log)"; exit 2; }
fi
[[ -x $RINGWAY && -x $LOAD ]] || { say "missing $RINGWAY or $LOAD"; exit 2; }

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=build/bench-results
RAW=$RESULTS/deflate-$STAMP
REPORT=$RESULTS/deflate-$STAMP.md
mkdir -p "$RAW"
N=$(count_of "$SUBSCRIBERS")
fanout_identities "$LOAD" "$N" "$RAW" "$CHANNEL"

bench_server_traps

# start_server LOG MODE [ARGS...]: sets PORT and SERVER_PID once /healthz answers 200.
start_server() {
  local log=$1 mode=$2
  shift 2
  local cmd=("$RINGWAY" --listen 127.0.0.1:0 --workers 1 --deflate "$mode"
             --deflate-memory-budget 2GiB --devices "$RAW/registry" --service-tokens "$RAW/tokens"
             --request-rate 1000000 --request-burst 1000000
             --max-unauthenticated-per-address 100000 --max-http-per-address 100000 "$@")
  echo "taskset -c 0 ${cmd[*]}" >"$log.cmd"
  taskset -c 0 "${cmd[@]}" >"$log" 2>"$log.err" &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 200); do
    PORT=$(sed -n 's/^ringway listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | awk 'NR==1')
    [[ -n $PORT ]] && break
    sleep 0.05
  done
  [[ -n $PORT ]] || { say "ringway did not start: $(tail -3 "$log.err")"; return 1; }
  for _ in $(seq 200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz") == 200 ]] && return 0
    sleep 0.05
  done
  say "ringway never became healthy: $(tail -3 "$log.err")"
  return 1
}

status=0
# run_load NAME ARGS...: the load on CPU 1 with --json into $RAW/NAME.json; 0 when it reported
# no errors.
run_load() {
  local name=$1
  shift
  echo "taskset -c 1 $LOAD $*" >"$RAW/$name.cmd"
  local rc=0
  timeout 600 taskset -c 1 "$LOAD" "$@" --json >"$RAW/$name.json" 2>"$RAW/$name.err" || rc=$?
  if (( rc != 0 )) || ! jq -e '.errors == 0' "$RAW/$name.json" >/dev/null 2>&1; then
    say "$name failed (exit $rc): $(tail -c 300 "$RAW/$name.err" | tr '\n' ' ')"
    status=1
    return 1
  fi
}

bench_busy
busy0=$busy_pct

echo_rows=()
for size in 100 1024 16384; do
  for mode in $MODES; do
    name=echo-$size-$mode
    say "$name"
    start_server "$RAW/$name.server" "$mode" || { status=1; continue; }
    if run_load "$name" echo --url "ws://127.0.0.1:$PORT/echo" --deflate --payload json \
        --size "$size" --connections "$CONNECTIONS" --rate "$ECHO_RATE" --depth 4 \
        --duration "${DURATION}s" \
        --warmup "${WARMUP}s" --server-pid "$SERVER_PID" --quiet; then
      echo_rows+=("$(jq -r --arg m "$mode" --arg s "$size" '
        [$s, $m, (.bytes_out / .messages_sent | round), (.bytes_in / .messages_total | round),
         (1e6 / .msgs_per_server_cpu_s * 100 | round / 100), (.msgs_per_s | floor),
         (.p50_us | round), (.p99_us | round)]
        | map(tostring) | "| " + join(" | ") + " |"' "$RAW/$name.json")")
    fi
    bench_stop_server
  done
done

fan_rows=()
for mode in on takeover; do
  name=fanout-$mode
  say "$name ($N subscribers)"
  start_server "$RAW/$name.server" "$mode" || { status=1; continue; }
  if run_load "$name" fanout --url "ws://127.0.0.1:$PORT/ws" --deflate --connections "$N" \
      --rate "$RATE" --size 1024 --duration "${DURATION}s" --warmup "${WARMUP}s" \
      --ramp-timeout 300s --channel "$CHANNEL" --source-addrs "$SOURCES" \
      --server-pid "$SERVER_PID" --target ringway --keys "$RAW/keys" --quiet \
      --token "$(cat "$RAW/token")"; then
    m=$(curl -s "http://127.0.0.1:$PORT/metrics")
    shared=$(awk '$1 == "ringway_deflate_shared_deliveries_total" { print $2 }' <<<"$m")
    compressed=$(awk '$1 == "ringway_deflate_messages_total" { print $2 }' <<<"$m")
    fan_rows+=("$(jq -r --arg m "$mode" --arg sh "${shared:-?}" --arg c "${compressed:-?}" '
      [$m, (.deliveries_per_s | floor), (1e6 / .deliveries_per_server_cpu_s * 100 | round / 100),
       $c, $sh, .lost, (.p50_us / 1000 | round), (.p99_us / 1000 | round)]
      | map(tostring) | "| " + join(" | ") + " |"' "$RAW/$name.json")")
  fi
  bench_stop_server
done

idle_rows=()
for mode in $MODES; do
  rss=()
  for n in "$IDLE_SMALL" "$IDLE_LARGE"; do
    name=idle-$n-$mode
    say "$name"
    start_server "$RAW/$name.server" "$mode" || { status=1; continue; }
    # One echo per connection first, so that whatever deflate state a connection keeps exists.
    if run_load "$name" echo --url "ws://127.0.0.1:$PORT/echo" --deflate --payload json \
        --size 1024 --connections "$n" --rate "$n" --duration 2s --warmup 0s \
        --source-addrs "$SOURCES" --server-pid "$SERVER_PID" --quiet; then
      rss+=("$(jq -r '.server_rss_kb' "$RAW/$name.json")")  # read while the connections are up
    fi
    bench_stop_server
  done
  if (( ${#rss[@]} == 2 )); then
    per=$(( (rss[1] - rss[0]) * 1024 / (IDLE_LARGE - IDLE_SMALL) ))
    idle_rows+=("| $mode | ${rss[0]} | ${rss[1]} | $per |")
  fi
done

{
  echo "# permessage-deflate end to end"
  echo
  echo "- date: $(date -Is)"
  echo "- machine: kernel $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | awk 'NR==1'); ${busy0}% busy before the runs"
  echo "- command: \`$COMMAND\`"
  echo "- git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (work tree modified)')"
  echo "- ringway \`--workers 1 --deflate MODE\` on CPU 0, ringway-load on CPU 1; commands in $RAW/*.cmd"
  echo
  echo "Echo, $CONNECTIONS connections, $ECHO_RATE messages/s offered (at most 4 in flight per connection), device JSON, the load offering deflate (\`off\`: declined). Bytes per message on the wire include the frame header (totals over the whole run):"
  echo
  echo "| payload B | mode | client→server B/msg | server→client B/msg | server CPU µs/msg | msgs/s | p50 µs | p99 µs |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${echo_rows[@]}"
  echo
  echo "Fan-out, $N deflate subscribers, $RATE publishes/s of 1 KiB JSON data:"
  echo
  echo "| mode | deliveries/s | server CPU µs/delivery | messages compressed | shared deliveries | lost | p50 ms | p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${fan_rows[@]}"
  echo
  echo "Idle: server RSS after one 1 KiB echo per connection, $IDLE_SMALL and $IDLE_LARGE connections; the slope is user space per connection:"
  echo
  echo "| mode | RSS kB at $IDLE_SMALL | RSS kB at $IDLE_LARGE | bytes/connection |"
  echo "|---|---:|---:|---:|"
  printf '%s\n' "${idle_rows[@]}"
} | tee "$REPORT"
exit $status
