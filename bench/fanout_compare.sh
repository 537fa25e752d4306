#!/usr/bin/env bash
# Fan-out side by side: one publisher, N subscribers, ringway's channels (--workers 1) against
# three broadcast servers (Boost.Beast, node ws, gorilla/websocket; bench/peers/*_broadcast*).
# Every server is pinned to CPU 0 and the load to CPU 1, each server started fresh for each run
# and driven by `ringway-load fanout` (--target ringway or --target peer) at the same rate.
#
#   bash bench/fanout_compare.sh                        # 1k and 10k subscribers, ~4 minutes
#   RATE=50 SUBSCRIBERS="10k" bash bench/fanout_compare.sh
#   SERVERS="ringway gorilla_broadcast" QUICK=1 bash bench/fanout_compare.sh
#
# Knobs (environment):
#   RATE=200          publishes per second (one publisher)      SIZE=100  bytes of JSON data
#   DURATION=10       measured seconds per run                  WARMUP=2  seconds before that
#   SUBSCRIBERS="1k 10k"   subscriber counts (1k = 1000)        RAMP=120  longest ramp, seconds
#   SERVERS="..."     subset of: ringway beast_broadcast ws_broadcast gorilla_broadcast
#   QUICK=1           DURATION=3 WARMUP=1
#   BUILD_DIR=build/release   NO_BUILD=1 uses the binaries already built   NO_SETUP=1
#
# Ringway gets a device registry from `ringway-load keys` (one identity per subscriber), a
# service token for the publisher, and limits raised for a load generator on one host: the
# publisher's request rate (--request-rate, 100/s by default) and the per-address caps on
# connections still in the HTTP or auth phase; the subscribers also come from 8 source
# addresses. Prints a Markdown report on stdout and writes it to
# build/bench-results/fanout-<date>.md; each run's JSON, command and server log go to
# build/bench-results/fanout-<date>/. Exits nonzero if a run failed, reported errors or lost
# messages, or a server died.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
ROOT=$PWD
[[ ${NO_SETUP:-0} == 1 ]] || bash tools/setup-bench.sh
BUILD_DIR=${BUILD_DIR:-build/release}
PEERS_DIR=build/peers
ALL_SERVERS="ringway beast_broadcast ws_broadcast gorilla_broadcast"
if [[ ${QUICK:-0} == 1 ]]; then DURATION=${DURATION:-3} WARMUP=${WARMUP:-1}; fi
RATE=${RATE:-200}
SIZE=${SIZE:-100}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RAMP=${RAMP:-120}
SUBSCRIBERS=${SUBSCRIBERS:-"1k 10k"}
SERVERS=${SERVERS:-$ALL_SERVERS}
SOURCES=127.0.0.1-127.0.0.8
CHANNEL=bench.fanout
COMMAND="$(printf '%q ' env QUICK="${QUICK:-0}" RATE="$RATE" SIZE="$SIZE" DURATION="$DURATION" \
  WARMUP="$WARMUP" RAMP="$RAMP" SUBSCRIBERS="$SUBSCRIBERS" SERVERS="$SERVERS" \
  BUILD_DIR="$BUILD_DIR" bash bench/fanout_compare.sh)"

say() { echo "fanout_compare: $*" >&2; }
lines() { awk -v n="$1" 'NR <= n'; }  # not head: no SIGPIPE under pipefail
messages() { awk '!/^[{]/ && n++ < 2 { printf "%s ", $0 }' "$1"; }
wants() { [[ " $SERVERS " == *" $1 "* ]]; }

for tool in taskset jq cmake sha256sum od; do
  command -v $tool >/dev/null || { say "needs $tool (bash tools/setup-bench.sh)"; exit 2; }
done

RINGWAY=$BUILD_DIR/src/app/ringway
LOAD=$BUILD_DIR/tools/ringway-load
BEAST=$BUILD_DIR/bench/beast_broadcast
GORILLA=$PEERS_DIR/gorilla_broadcast

# ---- build ----

if [[ ${NO_BUILD:-0} != 1 ]]; then
  if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  else
    cmake -S . -B "$BUILD_DIR" >/dev/null  # picks up a newly installed Boost
  fi
  targets=(ringway ringway-load)
  if cmake --build "$BUILD_DIR" --target help 2>/dev/null | grep -q '^beast_broadcast:'; then
    targets+=(beast_broadcast)
  fi
  say "building ${targets[*]} in $BUILD_DIR"
  if ! cmake --build "$BUILD_DIR" --target "${targets[@]}" >"$BUILD_DIR/fanout_compare-build.log" 2>&1; then
    say "WARNING: the build failed (see $BUILD_DIR/fanout_compare-build.log); using the binaries already there"
    BUILD_WARNING="the build failed; binaries from an earlier build were used"
  fi
  if wants gorilla_broadcast; then
    mkdir -p "$PEERS_DIR"
    if command -v go >/dev/null && [[ -d /usr/share/gocode/src/github.com/gorilla/websocket ]]; then
      # Offline: Debian's packaged gorilla sources in GOPATH mode, no module download.
      GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$ROOT/$PEERS_DIR/gocache \
        go build -o "$GORILLA" bench/peers/gorilla_broadcast.go
    else
      say "no go or gorilla sources (bash tools/setup-bench.sh); skipping gorilla_broadcast"
    fi
  fi
fi

NODE=""  # a node that can load Debian's ws (the node on PATH may not be Debian's)
for n in node /usr/bin/node /usr/bin/nodejs; do
  if command -v "$n" >/dev/null && "$n" -e "require('/usr/share/nodejs/ws')" >/dev/null 2>&1; then
    NODE=$(command -v "$n")
    break
  fi
done

[[ -x $LOAD ]] || { say "missing $LOAD"; exit 2; }
available=() skipped=()
for s in $SERVERS; do
  case $s in
    ringway) bin=$RINGWAY ;;
    beast_broadcast) bin=$BEAST ;;
    gorilla_broadcast) bin=$GORILLA ;;
    ws_broadcast) bin=${NODE:-/nonexistent} ;;
    *) say "unknown server $s (one of: $ALL_SERVERS)"; exit 2 ;;
  esac
  if [[ -x $bin ]]; then available+=("$s"); else skipped+=("$s (not built: $bin)"); fi
done

# ---- identities for ringway ----

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=build/bench-results
RAW=$RESULTS/fanout-$STAMP
mkdir -p "$RAW"
REPORT=$RESULTS/fanout-$STAMP.md
max=0
for n in $SUBSCRIBERS; do n=$(count_of "$n"); (( n > max )) && max=$n; done
if wants ringway; then
  fanout_identities "$LOAD" "$max" "$RAW" "$CHANNEL"
fi

# ---- runs ----

bench_server_traps

# start_server NAME LOG: a fresh server pinned to CPU 0; sets PORT and SERVER_PID.
start_server() {
  local name=$1 log=$2 cmd
  case $name in
    ringway) cmd=("$RINGWAY" --listen 127.0.0.1:0 --workers 1 --devices "$RAW/registry"
                  --service-tokens "$RAW/tokens" --request-rate 1000000 --request-burst 1000000
                  --max-unauthenticated-per-address 100000 --max-http-per-address 100000) ;;
    beast_broadcast) cmd=("$BEAST" --port 0) ;;
    ws_broadcast) cmd=("$NODE" bench/peers/ws_broadcast.js --port 0) ;;
    gorilla_broadcast) cmd=("$GORILLA" --port 0) ;;
  esac
  : >"$log"
  echo "taskset -c 0 ${cmd[*]}" >"$log.cmd"
  taskset -c 0 "${cmd[@]}" >"$log" 2>"$log.err" &
  SERVER_PID=$!
  for _ in $(seq 200); do
    PORT=$(sed -n "s/^$name listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p" "$log" | lines 1)
    [[ -n $PORT ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  say "$name did not start: $(cat "$log" "$log.err" | lines 5)"
  bench_stop_server
  return 1
}


bench_busy
busy0=$busy_pct
if (( busy0 > 10 )); then
  say "WARNING: the machine is ${busy0}% busy before the runs; the numbers will be disturbed"
fi
top_procs=$(ps -eo pcpu,comm --sort=-pcpu | awk 'NR>1 && $1>5 {printf "%s%s (%s%%)", sep, $2, $1; sep=", "}')
say "servers: ${available[*]}; subscribers: $SUBSCRIBERS; $RATE publishes/s x $SIZE B; $DURATION s (+$WARMUP s warmup)"

status=0
rows=() notes=()
declare -A percpu=()
for w in $SUBSCRIBERS; do
  n=$(count_of "$w")
  for s in "${available[@]}"; do
    base="$RAW/$s-$w"
    bench_busy
    bg=$busy_pct
    if ! start_server "$s" "$base.server"; then
      status=1
      rows+=("| $s | $w | did not start | | | | | | |")
      continue
    fi
    cmd=("$LOAD" fanout --url "ws://127.0.0.1:$PORT/" --connections "$n" --rate "$RATE"
         --size "$SIZE" --duration "${DURATION}s" --warmup "${WARMUP}s" --ramp-timeout "${RAMP}s"
         --source-addrs "$SOURCES" --server-pid "$SERVER_PID" --quiet --json)
    shown=("${cmd[@]}")
    if [[ $s == ringway ]]; then
      cmd+=(--target ringway --keys "$RAW/keys" --token "$(cat "$RAW/token")")
      shown+=(--target ringway --keys "$RAW/keys" --token "\$(cat $RAW/token)")
      cmd[3]="ws://127.0.0.1:$PORT/ws" shown[3]="ws://127.0.0.1:$PORT/ws"
    else
      cmd+=(--target peer) shown+=(--target peer)
    fi
    echo "taskset -c 1 ${shown[*]}" >"$base.cmd"
    say "$s, $w subscribers (machine ${bg}% busy before)"
    json=$base.json rc=0
    timeout $(( DURATION + WARMUP + RAMP + 60 )) taskset -c 1 "${cmd[@]}" >"$json" 2>"$json.err" || rc=$?
    alive=1
    kill -0 "$SERVER_PID" 2>/dev/null || alive=0
    bench_stop_server
    what=""
    (( rc == 124 )) && what="load timed out (stall?)"
    (( rc != 0 && rc != 124 )) && what="load exited $rc: $(messages "$json.err")"
    (( alive == 0 )) && what="$what server died: $(tail -3 "$base.server.err" | tr '\n' ' ')"
    if ! jq -e . "$json" >/dev/null 2>&1; then
      status=1
      rows+=("| $s | $w | failed | | | | | | $bg |")
      notes+=("- $s $w: ${what:-no report} (raw: $base.*)")
      continue
    fi
    rows+=("$(jq -r '[.deliveries_per_server_cpu_s, .deliveries_per_s, .p50_us / 1000, .p99_us / 1000,
                      .lost, .errors, .published, .subscribed] | @tsv' "$json" |
      awk -F'\t' -v s="$s" -v w="$w" -v bg="$bg" '{ printf "| %s | %s | %.0f | %.0f | %.2f | %.2f | %d | %d | %d | %s |",
        s, w, $1, $2, $3, $4, $5, $6, $7, bg }')")
    percpu[$s,$w]=$(jq -r '.deliveries_per_server_cpu_s' "$json")
    read -r lost errors subscribed refused reconnects < <(jq -r \
      '[.lost, .errors, .subscribed, .publish_refused, .reconnects] | @tsv' "$json")
    (( lost > 0 || errors > 0 )) && status=1
    [[ -n $what ]] && { status=1; notes+=("- $s $w: $what (raw: $base.*)"); }
    (( subscribed < n )) && notes+=("- $s $w: only $subscribed of $n subscribers were up when the window began")
    (( refused > 0 )) && notes+=("- $s $w: $refused publishes refused (UNAVAILABLE)")
    (( reconnects > 0 )) && notes+=("- $s $w: $reconnects reconnects (the server closed subscribers)")
    if (( errors > 0 )); then
      notes+=("- $s $w: $errors errors: $(jq -c '.error_reasons' "$json")")
    fi
  done
done

# ---- report ----

{
  echo "# Fan-out comparison"
  echo
  echo "- date: $(date -Is)"
  echo "- machine: kernel $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | lines 1)"
  echo "- command: \`$COMMAND\`"
  echo "- git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (work tree modified)')"
  echo "- servers pinned to CPU 0 (\`taskset -c 0\`), load to CPU 1 (\`taskset -c 1\`); a fresh server for each run; commands in $RAW/*.cmd"
  echo "- load: \`ringway-load fanout\`, 1 publisher at $RATE messages/s (open loop: latency from the intended send time), $SIZE B of JSON data, every subscriber checks the order (ringway: channel offsets; peers: seq); $WARMUP s warmup, $DURATION s measured; deliveries per server CPU-s from /proc/PID/stat utime+stime over the window"
  echo "- servers: ringway \`--workers 1\` (publisher: a service session); beast_broadcast (Boost.Beast $(dpkg-query -W -f='${Version}' libboost-dev 2>/dev/null || echo '?'), one io_context, per-session write queues); ws_broadcast (node $($NODE --version 2>/dev/null || echo '?'), ws $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' /usr/share/nodejs/ws/package.json 2>/dev/null | lines 1), wss.clients.forEach); gorilla_broadcast ($(go version 2>/dev/null | awk '{print $3}'), gorilla/websocket $(dpkg-query -W -f='${Version}' golang-github-gorilla-websocket-dev 2>/dev/null || echo '?'), hub goroutine, write pumps with 256-message channels, one PreparedMessage per message, GOMAXPROCS 1)"
  if ((${#skipped[@]})); then echo "- skipped: ${skipped[*]}"; fi
  if [[ -n ${BUILD_WARNING:-} ]]; then echo "- **warning: $BUILD_WARNING**"; fi
  echo "- machine busy before the runs: ${busy0}% of all CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end${top_procs:+; busiest processes at the start: $top_procs}"
  if (( busy0 > 10 )); then
    echo "- **warning: other processes were using the CPUs; the numbers are disturbed (see the last column)**"
  fi
  echo
  echo "| server | subscribers | deliveries per server CPU-s | deliveries/s | p50 ms | p99 ms | lost | errors | published | machine busy before % |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  if wants ringway; then
    echo "Deliveries per server CPU-second relative to ringway (same subscribers, same session; >1 means less CPU per delivery than ringway):"
    echo
    header="| subscribers |" sep="|---|"
    for s in "${available[@]}"; do [[ $s == ringway ]] || { header+=" $s |"; sep+="---:|"; }; done
    echo "$header"
    echo "$sep"
    for w in $SUBSCRIBERS; do
      line="| $w |"
      for s in "${available[@]}"; do
        [[ $s == ringway ]] && continue
        line+=" $(awk -v a="${percpu[$s,$w]:-0}" -v b="${percpu[ringway,$w]:-0}" \
          'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }') |"
      done
      echo "$line"
    done
    echo
  fi
  if ((${#notes[@]})); then
    echo "Notes:"
    echo
    printf '%s\n' "${notes[@]}"
    echo
  fi
  echo "Raw JSON, load commands and server logs: $RAW/"
} >"$REPORT"

cat "$REPORT"
say "report written to $REPORT"
exit $status
