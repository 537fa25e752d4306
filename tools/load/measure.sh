#!/usr/bin/env bash
# tools/load/measure.sh [echo|connect|idle|all]: the measurements quoted in docs/load.md, with
# the exact commands. Servers are started on a free port and stopped (SIGTERM, by PID) after
# each run. Needs a release build: ringway, ringway-load, bench/auth_bench, bench/echo_load.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build/release}
RW=$B/src/app/ringway
LOAD=$B/tools/ringway-load
OUT=${OUT:-/tmp/ringway-load-measure}
mkdir -p "$OUT"
what=${1:-all}

# start_server LOGNAME CPUS ARGS... : sets SPID and PORT
start_server() {
  local name=$1 cpus=$2
  shift 2
  if [ "$cpus" = "-" ]; then
    "$RW" --listen 127.0.0.1:0 "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  else
    taskset -c "$cpus" "$RW" --listen 127.0.0.1:0 "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  fi
  SPID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.*ringway listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$OUT/$name.out")
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  echo "server did not start" >&2
  exit 1
}
stop_server() {
  kill -TERM "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
}
field() { python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print(' '.join(str(r[k]) for k in sys.argv[1:]))" "$@"; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$what" = echo ] || [ "$what" = all ]; then
  for depth in 1 8; do
    for rep in 1 2 3; do
      start_server echo$depth-$rep 0 --workers 1
      cmd="taskset -c 1 $LOAD echo --url ws://127.0.0.1:$PORT/echo --connections 100 --size 20 --depth $depth --duration 10s --warmup 2s --server-pid $SPID --json"
      r=$($cmd)
      stop_server
      echo "$r" >"$OUT/echo$depth-$rep.json"
      echo "echo depth $depth #$rep: msgs/s, server cpu s, msgs/server-cpu-s, p50 p99 p99.9 us, errors: $(echo "$r" | field msgs_per_s server_cpu_s msgs_per_server_cpu_s p50_us p99_us p999_us errors)"
    done
    echo "  command: $cmd" | sed "s/$PORT/PORT/; s/$SPID/PID/"
    # Reference client (epoll, bench/echo_load) in the same conditions.
    start_server echoref$depth 0 --workers 1
    ref=$(taskset -c 1 $B/bench/echo_load --url ws://127.0.0.1:$PORT/echo --connections 100 --depth $depth --size 20 --duration 10 --warmup 2 --server-pid $SPID 2>&1 | tail -1)
    stop_server
    echo "  reference bench/echo_load depth $depth: $ref"
  done
fi

if [ "$what" = connect ] || [ "$what" = all ]; then
  $LOAD keys --count 10000 --out-keys "$OUT/keys" --out-registry "$OUT/registry" --scopes send 2>/dev/null
  echo "bare verify: $($B/bench/auth_bench --benchmark_filter=Verify 2>/dev/null | grep -E '^BM_' | tr -s ' ')"
  for pin in pinned unpinned; do
    for rep in 1 2 3; do
      if [ $pin = pinned ]; then
        start_server connect-$pin-$rep 0 --workers 1 --auth-threads 1 --devices "$OUT/registry"
        pre="taskset -c 1"
      else
        start_server connect-$pin-$rep - --workers 1 --auth-threads 1 --devices "$OUT/registry"
        pre=""
      fi
      cmd="$pre $LOAD connect --url ws://127.0.0.1:$PORT/ws --keys $OUT/keys --connections 64 --reconnect --warmup 2s --duration 10s --source-addrs 127.0.0.1-127.0.0.8 --server-pid $SPID --json"
      r=$($cmd)
      stop_server
      echo "$r" >"$OUT/connect-$pin-$rep.json"
      echo "connect $pin #$rep: connects/s, server cpu s, connects/server-cpu-s, p50 p99 us, unavailable, errors: $(echo "$r" | field connects_per_s server_cpu_s connects_per_server_cpu_s p50_us p99_us unavailable errors)"
    done
    echo "  command: $cmd" | sed "s/$PORT/PORT/; s/$SPID/PID/"
  done
fi

if [ "$what" = idle ] || [ "$what" = all ]; then
  start_server idle100k - --workers 6
  cmd="$LOAD idle --url ws://127.0.0.1:$PORT/echo --connections 100000 --threads 6 --source-addrs 127.0.0.1-127.0.0.16 --duration 40s --server-pid $SPID --json"
  r=$($cmd)
  stop_server
  echo "$r" >"$OUT/idle100k.json"
  echo "idle 100k echo route: connected, ramp s, connects/s, server rss before/up kB, per conn B, client rss kB, pings, errors: $(echo "$r" | field connected ramp_s connects_per_s server_rss_before_kb server_rss_kb server_rss_per_conn_bytes client_rss_kb pings errors)"
  echo "  command: $cmd" | sed "s/$PORT/PORT/; s/$SPID/PID/"
  $LOAD keys --count 100000 --out-keys "$OUT/keys100k" --out-registry "$OUT/registry100k" --scopes send 2>/dev/null
  start_server idle100k-auth - --workers 6 --devices "$OUT/registry100k"
  cmd="$LOAD idle --url ws://127.0.0.1:$PORT/ws --keys $OUT/keys100k --connections 100000 --threads 6 --source-addrs 127.0.0.1-127.0.0.16 --duration 10s --server-pid $SPID --json"
  r=$($cmd)
  stop_server
  echo "$r" >"$OUT/idle100k-auth.json"
  echo "idle 100k authenticated: connected, ramp s, connects/s, server rss before/up kB, per conn B, client rss kB, errors: $(echo "$r" | field connected ramp_s connects_per_s server_rss_before_kb server_rss_kb server_rss_per_conn_bytes client_rss_kb errors)"
  echo "  command: $cmd" | sed "s/$PORT/PORT/; s/$SPID/PID/"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
