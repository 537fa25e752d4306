#!/usr/bin/env bash
# Many idle authenticated connections on this one machine, server and load generator together.
# For each count: a fresh ringway with enough workers (one ring and one direct-descriptor table
# of 19 984 connections each), `ringway-load idle --keys` with enough threads (one ring each)
# and source addresses spread over 127.0.0.0/8, holding every session for HOLD (longer than the
# 30 s ping interval, so every connection is pinged and answers). Measured:
#   - server RSS per connection (marginal: RSS with everything up minus before the first connect)
#   - kernel memory: TCP buffer pages (/proc/net/sockstat "mem") and the socket slabs (TCP,
#     sock_inode_cache, filp, dentry in /proc/slabinfo), peak during the run minus before it,
#     per connection (each connection is two sockets here: the server's and the client's)
#   - ping CPU: the server's utime+stime over the hold window (pings and pongs only)
#   - then a restart: the server is killed (SIGKILL) and a new one started on the same port;
#     the load's connections reconnect with their backoff and jitter. Time until the new
#     server holds every session again, the peak verifier queue, UNAVAILABLE answers, and
#     deadline expiries (none may hit a connected client).
#
#   bash bench/scale.sh                       # 100k 250k 500k 1M
#   COUNTS="100k" HOLD=35 bash bench/scale.sh
#
# Knobs: COUNTS="100k 250k 500k 1M"  HOLD=40 (seconds)  CONNECT_RATE=3000 (new connections per
# second for the ramp; 0: as fast as the machine goes, which on 2 shared cores overruns the
# handshake deadline and collapses)  RECONNECT_LIMIT=600 (seconds)  STALL_LIMIT=120 (seconds
# without a new session before a ramp or reconnect counts as stopped)  BUILD_DIR=build/release  NO_BUILD=1
# Prints a Markdown table and writes it to build/bench-results/scale-<date>.md (logs and JSON in
# build/bench-results/scale-<date>/). Exits nonzero when a count could not be held.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
BUILD_DIR=${BUILD_DIR:-build/release}
COUNTS=${COUNTS:-"100k 250k 500k 1M"}
HOLD=${HOLD:-40}
CONNECT_RATE=${CONNECT_RATE:-3000}
RECONNECT_LIMIT=${RECONNECT_LIMIT:-600}
STALL_LIMIT=${STALL_LIMIT:-120}
PER_RING=19000  # under the 19 984 a worker's table holds: SO_REUSEPORT does not spread evenly
COMMAND="$(printf '%q ' env COUNTS="$COUNTS" HOLD="$HOLD" CONNECT_RATE="$CONNECT_RATE" \
  BUILD_DIR="$BUILD_DIR" bash bench/scale.sh)"

say() { echo "scale: $*" >&2; }
bench_needs scale jq curl
RINGWAY=$BUILD_DIR/src/app/ringway
LOAD=$BUILD_DIR/tools/ringway-load
if [[ ${NO_BUILD:-0} != 1 ]]; then
  cmake --build "$BUILD_DIR" --target ringway ringway-load >/dev/null
fi

STAMP=$(date +%Y%m%d-%H%M%S)
RAW=build/bench-results/scale-$STAMP
REPORT=build/bench-results/scale-$STAMP.md
mkdir -p "$RAW"
max=0
for c in $COUNTS; do n=$(count_of "$c"); (( n > max )) && max=$n; done
say "generating $max identities"
"$LOAD" keys --count "$max" --out-keys "$RAW/keys" --out-registry "$RAW/registry" --scopes send \
  2>/dev/null

SERVER_PID="" LOAD_PID="" SAMPLER_PID=""
cleanup() {
  for p in $SAMPLER_PID $LOAD_PID $SERVER_PID; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Kernel memory now, in bytes: TCP buffer pages plus the socket-related slabs.
kernel_bytes() {
  local pages slab
  pages=$(tcp_pages)
  slab=$(awk '$1 ~ /^(TCP|TCPv6|sock_inode_cache|filp|dentry|tcp_bind_bucket|request_sock_TCP)$/ { s += $2 * $4 } END { printf "%.0f\n", s }' /proc/slabinfo)
  echo $(( ${pages:-0} * 4096 + slab ))
}

# TCP buffer pages in use now (/proc/net/sockstat), against net.ipv4.tcp_mem.
tcp_pages() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }

# metric TEXT NAME [LABELS]: the summed value of a metric in a /metrics scrape, or empty.
scrape() { curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics"; }
metric() {
  awk -v n="$2" -v l="${3:-}" '$1 ~ "^" n "([{]|$)" && index($1, l) { s += $2; found = 1 }
                               END { if (found) printf "%.0f\n", s }' <<<"$1"
}

# start_server WORKERS LOG [PORT]: sets SERVER_PID and PORT.
start_server() {
  local workers=$1 log=$2 port=${3:-0}
  "$RINGWAY" --listen "127.0.0.1:$port" --workers "$workers" --devices "$RAW/registry" \
    --max-unauthenticated-per-address 1000000 --max-http-per-address 1000000 >"$log" 2>"$log.err" &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 600); do
    PORT=$(sed -n 's/^ringway listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | awk 'NR==1')
    [[ -n $PORT ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  say "ringway did not start: $(tail -3 "$log.err")"
  return 1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# wait_sessions N LIMIT_S: until the current server holds N sessions (or LIMIT_S pass); samples
# the verifier queue into QMAX; sets UP.
wait_sessions() {
  local want=$1 limit=$2 start=$SECONDS q m best=0 grew=$SECONDS
  UP=0 QMAX=0
  while (( SECONDS - start < limit )); do
    # A count that has not grown for STALL_LIMIT seconds is where this machine stops.
    (( SECONDS - grew > STALL_LIMIT )) && { say "no new session for ${STALL_LIMIT}s at $UP"; return 1; }
    m=$(scrape)
    q=$(metric "$m" ringway_verifier_queue_depth)
    (( ${q:-0} > QMAX )) && QMAX=${q:-0}
    UP=$(metric "$m" ringway_connections 'state="session"')
    UP=${UP:-0}
    (( UP > best )) && { best=$UP; grew=$SECONDS; }
    (( UP >= want )) && return 0
    kill -0 "$LOAD_PID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

status=0
rows=()
for c in $COUNTS; do
  n=$(count_of "$c")
  rings=$(( (n + PER_RING - 1) / PER_RING ))
  # 5 000 connections per source address: the kernel picks a free port per (source,
  # destination) by probing, and with most of the ~28k ports taken (TIME_WAIT included) connect()
  # spends its time searching; at 20 000 per address the ramp stalled in system time.
  addrs=$(( (n + 4999) / 5000 ))
  (( addrs < 4 )) && addrs=4
  (( addrs > 250 )) && { say "$c: more than 250 source addresses needed"; exit 2; }
  base=$RAW/$c
  sync
  k0=$(kernel_bytes)
  start_server "$rings" "$base.server" || { status=1; rows+=("| $c | server did not start |"); continue; }
  port=$PORT
  rss0=$(rss_kb "$SERVER_PID")
  # One load for the whole row: the ramp, the hold, the restart; stopped by the script (SIGINT).
  cmd=("$LOAD" idle --url "ws://127.0.0.1:$port/ws" --keys "$RAW/keys" --connections "$n"
       --threads "$rings" --source-addrs "127.0.1.1-127.0.1.$addrs" --connect-rate "$CONNECT_RATE"
       --ramp-timeout 1800s --duration 3600s --backoff-max 30s --quiet --json)
  echo "${cmd[*]}" >"$base.cmd"
  say "$c: $rings workers, $rings load threads, $addrs source addresses"
  : >"$base.kernel"
  : >"$base.tcp_pages"
  ( while sleep 1; do kernel_bytes >>"$base.kernel"; tcp_pages >>"$base.tcp_pages"; done ) &
  SAMPLER_PID=$!
  "${cmd[@]}" >"$base.json" 2>"$base.load.err" &
  LOAD_PID=$!
  t0=$SECONDS
  if ! wait_sessions "$n" 1800; then
    tcp_peaks="${tcp_peaks:+$tcp_peaks, }$c: $(sort -n "$base.tcp_pages" | tail -1)"
    status=1
    rows+=("| $c | $UP | $rings | ramp stopped at $UP sessions after $(( SECONDS - t0 )) s |")
    say "$c: only $UP sessions held"
    cleanup
    SERVER_PID="" LOAD_PID="" SAMPLER_PID=""
    continue
  fi
  ramp=$(( SECONDS - t0 ))
  sleep 2  # the last hellos' queued bytes leave
  rss1=$(rss_kb "$SERVER_PID")
  per_conn=$(( (rss1 - rss0) * 1024 / n ))
  c0=$(cpu_ticks "$SERVER_PID")
  sleep "$HOLD"
  c1=$(cpu_ticks "$SERVER_PID")
  ping_pct=$(awk -v a="$c0" -v b="$c1" -v h="$HOLD" -v hz="$HZ" 'BEGIN { printf "%.2f", 100 * (b - a) / hz / h }')
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
  kpeak=$(sort -n "$base.kernel" | tail -1)
  tcp_peaks="${tcp_peaks:+$tcp_peaks, }$c: $(sort -n "$base.tcp_pages" | tail -1)"
  kernel_per=$(( (${kpeak:-$k0} - k0) / n ))
  # The restart: SIGKILL, a new server on the same port, every session reconnects.
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  start_server "$rings" "$base.server2" "$port" || { status=1; rows+=("| $c | restart failed |"); cleanup; continue; }
  t1=$SECONDS
  if wait_sessions "$n" "$RECONNECT_LIMIT"; then
    reconnect_s=$(( SECONDS - t1 ))
  else
    status=1
    reconnect_s="> $RECONNECT_LIMIT (${UP} back)"
  fi
  m=$(scrape)
  refused=$(metric "$m" ringway_refused_total)
  expiries=$(metric "$m" ringway_deadline_expiries_total)
  kill -INT "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  LOAD_PID=""
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  errors=$(jq -r '"\(.reconnects) / \(.errors)"' "$base.json" 2>/dev/null || echo "?")
  rows+=("| $c | $n | $rings | $(( rss1 / 1024 )) | $per_conn | $kernel_per | $ping_pct | $ramp | $reconnect_s | $QMAX | ${refused:-0} | ${expiries:-0} | $errors |")
  say "$c: ${per_conn} B/conn server, ${kernel_per} B/conn kernel, ping CPU ${ping_pct}%, ramp ${ramp}s, reconnect ${reconnect_s}s"
done

{
  echo "# Scale: idle authenticated sessions"
  echo
  echo "- date: $(date -Is)"
  echo "- machine: kernel $(uname -r), $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); descriptor limit $(ulimit -n) per process"
  echo "- command: \`$COMMAND\`"
  echo "- git: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (work tree modified)')"
  echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- kernel TCP memory: net.ipv4.tcp_mem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_mem) (pages: low, pressure, high), tcp_rmem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_rmem), tcp_wmem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_wmem); peak TCP pages in use per count: ${tcp_peaks:-none}"
  echo
  echo "| connections | held | workers = load threads | server RSS MiB | server B/conn | kernel B/conn | ping CPU % of a core | ramp s | reconnect after restart s | peak verifier queue | refused | deadline expiries | load reconnects / errors |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Server B/conn: marginal user-space RSS (/proc/PID/status VmRSS with every session up, minus before the first connect). Kernel B/conn: peak of TCP buffer pages plus socket slabs during the run, minus before it, per connection (a server and a client socket each). Ping CPU: server utime+stime over the ${HOLD} s hold (a 30 s ping interval). Reconnect: from the restarted server's start until it holds every session again (ringway_connections{state=\"session\"}); refused and deadline expiries are the restarted server's counters at that moment. The load's errors include each connection the killed server dropped."
  echo
  echo "Raw: $RAW/"
} >"$REPORT"
cat "$REPORT"
exit $status
