#!/usr/bin/env bash
# Cross-node fan-out side by side: one publisher, N subscribers, on one node without a bus, one
# node with a bus, and two nodes over one Redis with the subscribers split between them (the
# publisher on the first). Every server process (nodes and redis-server) is pinned to CPU 0 and
# the load to CPU 1; each setup is started fresh and driven by `ringway-load fanout` at the
# same rate. Redis's CPU is measured over the same window (--measure-pid).
#
#   bash bench/cluster_compare.sh                     # 10k subscribers at 20 and 100 msg/s
#   RATES="50" SUBSCRIBERS=1k QUICK=1 bash bench/cluster_compare.sh
#
# Knobs (environment):
#   RATES="20 100"   publishes per second (one publisher)   SIZE=100  bytes of JSON data
#   SUBSCRIBERS=10k  subscribers (1k = 1000)                 DURATION=10 WARMUP=2 seconds
#   SETUPS="single single+bus two-nodes"                     RAMP=120  longest ramp, seconds
#   QUICK=1          DURATION=3 WARMUP=1                     BUILD_DIR=build/release
#   NO_BUILD=1 uses the binaries already built               NO_SETUP=1 skips tools/setup.sh
#
# Prints a Markdown report on stdout and writes it to build/bench-results/cluster-<date>.md;
# each run's JSON, commands and logs go to build/bench-results/cluster-<date>/. Exits nonzero
# if a run failed, lost messages, reported errors, or a server died.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
[[ ${NO_SETUP:-0} == 1 ]] || bash tools/setup.sh >/dev/null
BUILD_DIR=${BUILD_DIR:-build/release}
if [[ ${QUICK:-0} == 1 ]]; then DURATION=${DURATION:-3} WARMUP=${WARMUP:-1}; fi
RATES=${RATES:-"20 100"}
SIZE=${SIZE:-100}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RAMP=${RAMP:-120}
SUBSCRIBERS=${SUBSCRIBERS:-10k}
SETUPS=${SETUPS:-"single single+bus two-nodes"}
SOURCES=127.0.0.1-127.0.0.8
CHANNEL=bench.cluster
COMMAND="$(printf '%q ' env QUICK="${QUICK:-0}" RATES="$RATES" SIZE="$SIZE" DURATION="$DURATION" \
  WARMUP="$WARMUP" RAMP="$RAMP" SUBSCRIBERS="$SUBSCRIBERS" SETUPS="$SETUPS" \
  BUILD_DIR="$BUILD_DIR" bash bench/cluster_compare.sh)"

say() { echo "cluster_compare: $*" >&2; }
bench_needs cluster_compare taskset jq curl redis-server redis-cli sha256sum od

RINGWAY=$BUILD_DIR/src/app/ringway
LOAD=$BUILD_DIR/tools/ringway-load
if [[ ${NO_BUILD:-0} != 1 ]]; then
  [[ -f $BUILD_DIR/build.ninja ]] || cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  say "building ringway and ringway-load in $BUILD_DIR"
  cmake --build "$BUILD_DIR" --target ringway ringway-load >"$BUILD_DIR/cluster_compare-build.log" 2>&1 ||
    { say "the build failed (see $BUILD_DIR/cluster_compare-build.log)"; exit 2; }
fi
[[ -x $RINGWAY && -x $LOAD ]] || { say "missing $RINGWAY or $LOAD"; exit 2; }

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=build/bench-results
RAW=$RESULTS/cluster-$STAMP
REPORT=$RESULTS/cluster-$STAMP.md
mkdir -p "$RAW"
N=$(count_of "$SUBSCRIBERS")
fanout_identities "$LOAD" "$N" "$RAW" "$CHANNEL"

PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_redis LOG: sets REDIS_PORT and REDIS_PID.
start_redis() {
  REDIS_PORT=$(free_port)
  taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --protected-mode no >"$1" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  say "redis-server did not start: $(tail -3 "$1")"
  return 1
}

# start_node LOG [ARGS...]: sets NODE_PORT and NODE_PID; waits for /healthz 200 (the bus up).
start_node() {
  local log=$1
  shift
  local cmd=("$RINGWAY" --listen 127.0.0.1:0 --workers 1 --devices "$RAW/registry"
             --service-tokens "$RAW/tokens" --request-rate 1000000 --request-burst 1000000
             --max-unauthenticated-per-address 100000 --max-http-per-address 100000 "$@")
  echo "taskset -c 0 ${cmd[*]}" >"$log.cmd"
  taskset -c 0 "${cmd[@]}" >"$log" 2>"$log.err" &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  NODE_PORT=""
  for _ in $(seq 200); do
    NODE_PORT=$(sed -n 's/^ringway listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | awk 'NR==1')
    [[ -n $NODE_PORT ]] && break
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $NODE_PORT ]] || { say "ringway did not start: $(tail -3 "$log.err")"; return 1; }
  for _ in $(seq 200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NODE_PORT/healthz") == 200 ]] && return 0
    sleep 0.05
  done
  say "ringway on $NODE_PORT never became healthy: $(tail -3 "$log.err")"
  return 1
}


bench_busy
busy0=$busy_pct
(( busy0 > 10 )) && say "WARNING: the machine is ${busy0}% busy before the runs; the numbers will be disturbed"
status=0
rows=() notes=()
for rate in $RATES; do
  for setup in $SETUPS; do
    base="$RAW/$setup-$rate"
    bench_busy
    bg=$busy_pct
    urls=() server_pids=() measure=()
    ok=1
    case $setup in
      single)
        start_node "$base.a" || ok=0
        urls=(--url "ws://127.0.0.1:$NODE_PORT/ws") server_pids=(--server-pid "$NODE_PID") ;;
      single+bus|two-nodes)
        start_redis "$base.redis" || ok=0
        if (( ok )); then
          measure=(--measure-pid "$REDIS_PID")
          start_node "$base.a" --bus "redis://127.0.0.1:$REDIS_PORT" --node-id a || ok=0
          urls=(--url "ws://127.0.0.1:$NODE_PORT/ws") server_pids=(--server-pid "$NODE_PID")
        fi
        if (( ok )) && [[ $setup == two-nodes ]]; then
          start_node "$base.b" --bus "redis://127.0.0.1:$REDIS_PORT" --node-id b || ok=0
          urls+=(--url "ws://127.0.0.1:$NODE_PORT/ws") server_pids+=(--server-pid "$NODE_PID")
        fi ;;
      *) say "unknown setup $setup (single, single+bus, two-nodes)"; exit 2 ;;
    esac
    if (( ! ok )); then
      status=1
      rows+=("| $setup | $rate | did not start | | | | | | | | $bg |")
      stop_all
      continue
    fi
    cmd=("$LOAD" fanout "${urls[@]}" --connections "$N" --rate "$rate" --size "$SIZE"
         --duration "${DURATION}s" --warmup "${WARMUP}s" --ramp-timeout "${RAMP}s"
         --channel "$CHANNEL" --source-addrs "$SOURCES" "${server_pids[@]}" "${measure[@]}"
         --target ringway --keys "$RAW/keys" --quiet --json)
    echo "taskset -c 1 ${cmd[*]} --token \$(cat $RAW/token)" >"$base.cmd"
    say "$setup, $N subscribers, $rate msg/s (machine ${bg}% busy before)"
    json=$base.json rc=0
    timeout $(( DURATION + WARMUP + RAMP + 60 )) taskset -c 1 "${cmd[@]}" --token "$(cat "$RAW/token")" \
      >"$json" 2>"$json.err" || rc=$?
    dead=""
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || dead="$dead $p"; done
    stop_all
    if ! jq -e . "$json" >/dev/null 2>&1; then
      status=1
      rows+=("| $setup | $rate | failed (exit $rc) | | | | | | | | $bg |")
      notes+=("- $setup $rate: $(head -c 300 "$json.err" | tr '\n' ' ') (raw: $base.*)")
      continue
    fi
    rows+=("$(jq -r --arg s "$setup" --arg r "$rate" --arg bg "$bg" '
      [$s, $r, (.deliveries_per_server_cpu_s | floor), (.deliveries_per_s | floor),
       (.p50_us / 1000 * 100 | round / 100), (.p99_us / 1000 * 100 | round / 100),
       (if .other_cpu_s > 0 then (.other_cpu_s / .duration_s * 100 * 1000 / ((.published / .duration_s) | if . > 0 then . else 1 end) * 10 | round / 10) else "" end),
       .lost, .errors, .published, $bg] | map(tostring) | "| " + join(" | ") + " |"' "$json")")
    read -r lost errors subscribed refused < <(jq -r '[.lost, .errors, .subscribed, .publish_refused] | @tsv' "$json")
    (( lost > 0 || errors > 0 )) && status=1
    (( rc != 0 )) && { status=1; notes+=("- $setup $rate: load exited $rc"); }
    [[ -n $dead ]] && { status=1; notes+=("- $setup $rate: a server died (pids$dead)"); }
    (( subscribed < N )) && notes+=("- $setup $rate: only $subscribed of $N subscribers were up when the window began")
    (( refused > 0 )) && notes+=("- $setup $rate: $refused publishes refused (UNAVAILABLE)")
    (( errors > 0 )) && notes+=("- $setup $rate: errors $(jq -c '.error_reasons' "$json")")
  done
done

{
  echo "# Cross-node fan-out"
  echo
  echo "- date: $(date -Is)"
  echo "- machine: kernel $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | awk 'NR==1')"
  echo "- command: \`$COMMAND\`"
  echo "- git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (work tree modified)')"
  echo "- redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'); nodes \`--workers 1\`; every server process on CPU 0, the load on CPU 1; commands in $RAW/*.cmd"
  echo "- load: \`ringway-load fanout\`, $N subscribers (two-nodes: every other one on node b), 1 publisher on node a (a service session), $SIZE B of JSON data, $WARMUP s warmup, $DURATION s measured; every subscriber checks the channel's offsets"
  echo "- machine busy before the runs: ${busy0}% of all CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo
  echo "| setup | msg/s | deliveries per node CPU-s | deliveries/s | p50 ms | p99 ms | Redis CPU % per 1k msg/s | lost | errors | published | machine busy before % |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Deliveries per node CPU-s: deliveries over the window divided by the nodes' utime+stime (all nodes summed; Redis not included). Redis CPU: redis-server's CPU over the window as a share of one core, scaled to 1000 publishes per second."
  if ((${#notes[@]})); then
    echo
    echo "Notes:"
    echo
    printf '%s\n' "${notes[@]}"
  fi
  echo
  echo "Raw JSON, load commands and logs: $RAW/"
} >"$REPORT"
cat "$REPORT"
say "report written to $REPORT"
exit $status
