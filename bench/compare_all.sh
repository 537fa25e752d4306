#!/usr/bin/env bash
# Side-by-side WebSocket echo comparison: ringway (--workers 1), the min_echo floor, and three
# peers (Boost.Beast, node ws, gorilla/websocket), every server pinned to CPU 0 and the load to
# CPU 1, each server started fresh for each run and driven by the same load command.
#
#   bash bench/compare_all.sh                        # everything, about 12 minutes
#   QUICK=1 bash bench/compare_all.sh                # 3 workloads, 3 s runs, 2-4 minutes
#   SERVERS="ringway beast_echo" WORKLOADS="100x20B-d1 idle-50k" bash bench/compare_all.sh
#
# Knobs (environment):
#   DURATION=10       measured seconds per echo run      WARMUP=2   seconds before measuring
#   IDLE_HOLD=5       seconds the idle connections are held after they are all open
#   IDLE_RAMP=30      ringway-load idle: longest wait for all connections (--ramp-timeout)
#   ECHO_RAMP=60      ringway-load echo: the same for echo runs
#   SERVERS="..."     subset of: ringway min_echo beast_echo ws_echo gorilla_echo ringway_3w
#                     (ringway_3w = ringway --workers 3 on the same single core; idle only:
#                     one ring's descriptor table stops at the 20000-file limit)
#   WORKLOADS="..."   CONNSxSIZE-dDEPTH echo workloads (10k = 10000) and idle-N
#   QUICK=1           DURATION=3 WARMUP=1 IDLE_HOLD=2, workloads 100x20B-d1 10kx512B-d8 idle-10k
#   LOAD=auto         auto: build/release/tools/ringway-load if built, else bench/echo_load and
#                     bench/peers/idle_hold; or LOAD=ringway-load / LOAD=echo_load.
#                     Both open every connection before any echo traffic starts.
#   BUILD_DIR=build/release   NO_BUILD=1 uses the binaries already built
#
# Prints a Markdown report (machine, command, table, ratios to ringway) on stdout and writes it
# to build/bench-results/compare-<date>.md; each run's JSON and server log go to
# build/bench-results/compare-<date>/. Installs what it needs with tools/setup-bench.sh first
# (NO_SETUP=1 skips that).
# Exits nonzero if any run failed, reported errors, or a server died.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
[[ ${NO_SETUP:-0} == 1 ]] || bash tools/setup-bench.sh
BUILD_DIR=${BUILD_DIR:-build/release}
PEERS_DIR=build/peers
ALL_SERVERS="ringway min_echo beast_echo ws_echo gorilla_echo ringway_3w"
ALL_WORKLOADS="100x20B-d1 100x20B-d8 100x512B-d1 100x512B-d8 10kx20B-d1 10kx20B-d8 10kx512B-d1 10kx512B-d8 idle-50k"
if [[ ${QUICK:-0} == 1 ]]; then
  DURATION=${DURATION:-3} WARMUP=${WARMUP:-1} IDLE_HOLD=${IDLE_HOLD:-2}
  WORKLOADS=${WORKLOADS:-"100x20B-d1 10kx512B-d8 idle-10k"}
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
IDLE_HOLD=${IDLE_HOLD:-5}
IDLE_RAMP=${IDLE_RAMP:-30}
ECHO_RAMP=${ECHO_RAMP:-60}
SERVERS=${SERVERS:-$ALL_SERVERS}
WORKLOADS=${WORKLOADS:-$ALL_WORKLOADS}
LOAD=${LOAD:-auto}
SOURCES_RANGE=127.0.0.1-127.0.0.8
SOURCES_LIST=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8
COMMAND="$(printf '%q ' env QUICK="${QUICK:-0}" DURATION="$DURATION" WARMUP="$WARMUP" \
  IDLE_HOLD="$IDLE_HOLD" IDLE_RAMP="$IDLE_RAMP" ECHO_RAMP="$ECHO_RAMP" SERVERS="$SERVERS" WORKLOADS="$WORKLOADS" LOAD="$LOAD" \
  BUILD_DIR="$BUILD_DIR" bash bench/compare_all.sh)"

say() { echo "compare_all: $*" >&2; }
# The first N lines of stdin. Not head: under pipefail, a writer killed by SIGPIPE after head
# exits would fail the whole pipeline (and, through set -e, the script).
lines() { awk -v n="$1" 'NR <= n'; }
# The first two lines of a load tool's stderr that are not its JSON, on one line.
messages() { awk '!/^[{]/ && n++ < 2 { printf "%s ", $0 }' "$1"; }

for tool in taskset jq cmake; do
  command -v $tool >/dev/null || { say "needs $tool (bash tools/setup-bench.sh)"; exit 2; }
done

# ---- build what the runs need ----

RINGWAY=$BUILD_DIR/src/app/ringway
MIN_ECHO=$BUILD_DIR/bench/min_echo
BEAST=$BUILD_DIR/bench/beast_echo
ECHO_LOAD=$BUILD_DIR/bench/echo_load
RINGWAY_LOAD=$BUILD_DIR/tools/ringway-load
GORILLA=$PEERS_DIR/gorilla_echo
IDLE_HOLD_BIN=$PEERS_DIR/idle_hold

wants() { [[ " $SERVERS " == *" $1 "* ]]; }

if [[ ${NO_BUILD:-0} != 1 ]]; then
  if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  else
    cmake -S . -B "$BUILD_DIR" >/dev/null  # picks up a newly installed Boost
  fi
  targets=(ringway min_echo echo_load)
  known=$(cmake --build "$BUILD_DIR" --target help 2>/dev/null || true)
  for t in beast_echo ringway-load; do  # beast_echo needs Boost; ringway-load may not exist yet
    if grep -q "^$t:" <<<"$known"; then targets+=("$t"); fi
  done
  say "building ${targets[*]} in $BUILD_DIR"
  # Other work may leave the tree mid-edit; fall back to binaries already built, and say so.
  if ! cmake --build "$BUILD_DIR" --target "${targets[@]}" >"$BUILD_DIR/compare_all-build.log" 2>&1; then
    say "WARNING: the build failed (see $BUILD_DIR/compare_all-build.log); using the binaries already there"
    BUILD_WARNING="the build failed; binaries from an earlier build were used"
  fi
  mkdir -p "$PEERS_DIR"
  if wants gorilla_echo; then
    if command -v go >/dev/null && [[ -d /usr/share/gocode/src/github.com/gorilla/websocket ]]; then
      # Offline: Debian's packaged gorilla sources in GOPATH mode, no module download.
      GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$ROOT/$PEERS_DIR/gocache \
        go build -o "$GORILLA" bench/peers/gorilla_echo.go
    else
      say "no go or gorilla sources (bash tools/setup-bench.sh); skipping gorilla_echo"
    fi
  fi
  if [[ ! -x $IDLE_HOLD_BIN || bench/peers/idle_hold.cc -nt $IDLE_HOLD_BIN ]]; then
    c++ -O2 -std=c++20 -Wall -Wextra -o "$IDLE_HOLD_BIN" bench/peers/idle_hold.cc
  fi
fi

# A node that can load Debian's ws (the node on PATH may not be Debian's).
NODE=""
for n in node /usr/bin/node /usr/bin/nodejs; do
  if command -v "$n" >/dev/null &&
     "$n" -e "require('/usr/share/nodejs/ws')" >/dev/null 2>&1; then
    NODE=$(command -v "$n")
    break
  fi
done

case $LOAD in
  auto) if [[ -x $RINGWAY_LOAD ]]; then LOAD=ringway-load; else LOAD=echo_load; fi ;;
  ringway-load | echo_load) ;;
  *) say "LOAD must be auto, ringway-load or echo_load"; exit 2 ;;
esac
if [[ $LOAD == ringway-load && ! -x $RINGWAY_LOAD ]]; then say "missing $RINGWAY_LOAD"; exit 2; fi
if [[ $LOAD == echo_load && ! -x $ECHO_LOAD ]]; then say "missing $ECHO_LOAD"; exit 2; fi

# Which servers can run here.
available=()
skipped=()
for s in $SERVERS; do
  case $s in
    ringway | ringway_3w) bin=$RINGWAY ;;
    min_echo) bin=$MIN_ECHO ;;
    beast_echo) bin=$BEAST ;;
    gorilla_echo) bin=$GORILLA ;;
    ws_echo) bin=${NODE:-/nonexistent} ;;
    *) say "unknown server $s (one of: $ALL_SERVERS)"; exit 2 ;;
  esac
  if [[ -x $bin ]]; then available+=("$s"); else skipped+=("$s (not built: $bin)"); fi
done

# ---- run bookkeeping ----

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=build/bench-results
RAW=$RESULTS/compare-$STAMP
mkdir -p "$RAW"
REPORT=$RESULTS/compare-$STAMP.md

bench_server_traps

# start_server NAME LOG: starts a fresh server pinned to CPU 0; sets PORT and SERVER_PID.
start_server() {
  local name=$1 log=$2 cmd
  case $name in
    ringway) cmd=("$RINGWAY" --listen 127.0.0.1:0 --workers 1) ;;
    ringway_3w) cmd=("$RINGWAY" --listen 127.0.0.1:0 --workers 3) ;;
    min_echo) cmd=("$MIN_ECHO" --listen-addr 127.0.0.1 --port 0) ;;
    beast_echo) cmd=("$BEAST" --port 0) ;;
    ws_echo) cmd=("$NODE" bench/peers/ws_echo.js --port 0) ;;
    gorilla_echo) cmd=("$GORILLA" --port 0) ;;
  esac
  local tag=${name%_3w}
  : >"$log"  # exists before the loop below reads it
  taskset -c 0 "${cmd[@]}" >"$log" 2>"$log.err" &
  SERVER_PID=$!
  for _ in $(seq 200); do
    PORT=$(sed -n "s/^$tag listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p" "$log" | lines 1)
    [[ -n $PORT ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  say "$name did not start: $(cat "$log" "$log.err" | lines 5)"
  bench_stop_server
  return 1
}

# shellcheck source=bench/common.sh
source bench/common.sh

conns_of() {  # 10k -> 10000, 50k -> 50000, 100 -> 100
  local v=$1
  if [[ $v == *k ]]; then echo $(( ${v%k} * 1000 )); else echo "$v"; fi
}

# ---- machine check ----

bench_busy
busy0=$busy_pct
if (( busy0 > 10 )); then
  say "WARNING: the machine is ${busy0}% busy before the runs; the numbers will be disturbed. Top CPU users:"
  ps -eo pid,pcpu,etime,comm --sort=-pcpu | lines 6 >&2
fi
top_procs=$(ps -eo pcpu,comm --sort=-pcpu | awk 'NR>1 && $1>5 {printf "%s%s (%s%%)", sep, $2, $1; sep=", "}')

n_echo=0 n_idle=0
for w in $WORKLOADS; do if [[ $w == idle-* ]]; then n_idle=$((n_idle+1)); else n_echo=$((n_echo+1)); fi; done
say "load tool: $LOAD; servers: ${available[*]}; $n_echo echo workloads x $DURATION s (+$WARMUP s warmup), $n_idle idle"

# ---- runs ----

status=0
rows=()
notes=()
declare -A percpu=()

for w in $WORKLOADS; do
  for s in "${available[@]}"; do
    if [[ $w != idle-* && $s == ringway_3w ]]; then continue; fi
    base="$RAW/$s-$w"
    bench_busy
    bg=$busy_pct
    if ! start_server "$s" "$base.server"; then
      status=1
      rows+=("| $s | $w | did not start | | | | | | $bg |")
      continue
    fi
    json="$base.json"
    if [[ $w == idle-* ]]; then
      n=$(conns_of "${w#idle-}")
      if [[ $LOAD == ringway-load ]]; then
        # A server at its descriptor limit never lets the last connections in: bound the ramp.
        # and one ring per 16000 connections: a ring's direct-descriptor table stops at the
        # 20000-file limit.
        cmd=("$RINGWAY_LOAD" idle --url "ws://127.0.0.1:$PORT/echo" --connections "$n"
             --threads $(( (n + 15999) / 16000 ))
             --duration "${IDLE_HOLD}s" --ramp-timeout "${IDLE_RAMP}s" --server-pid "$SERVER_PID"
             --source-addrs "$SOURCES_RANGE" --json)
      else
        cmd=("$IDLE_HOLD_BIN" --url "ws://127.0.0.1:$PORT/echo" --connections "$n"
             --duration "$IDLE_HOLD" --server-pid "$SERVER_PID" --source-addrs "$SOURCES_RANGE" --json)
      fi
      limit=$(( IDLE_HOLD + 300 ))
    else
      if [[ ! $w =~ ^([0-9]+k?)x([0-9]+)B-d([0-9]+)$ ]]; then
        say "bad workload $w (CONNSxSIZEB-dDEPTH, e.g. 10kx512B-d8, or idle-N)"; exit 2
      fi
      n=$(conns_of "${BASH_REMATCH[1]}") size=${BASH_REMATCH[2]} depth=${BASH_REMATCH[3]}
      if [[ $LOAD == ringway-load ]]; then
        # ringway-load echoes on each connection as soon as it is up; a server that accepts
        # slowly while echoing may never let all of them in: bound the ramp.
        cmd=("$RINGWAY_LOAD" echo --source-addrs "$SOURCES_RANGE" --ramp-timeout "${ECHO_RAMP}s"
             --duration "${DURATION}s" --warmup "${WARMUP}s")
      else
        cmd=("$ECHO_LOAD" --source-addrs "$SOURCES_LIST" --duration "$DURATION" --warmup "$WARMUP")
      fi
      cmd+=(--url "ws://127.0.0.1:$PORT/echo" --connections "$n" --depth "$depth" --size "$size"
            --server-pid "$SERVER_PID" --json)
      limit=$(( DURATION + WARMUP + 180 ))
    fi
    say "$s $w (machine ${bg}% busy before)"
    echo "taskset -c 1 ${cmd[*]}" >"$base.cmd"
    rc=0
    timeout "$limit" taskset -c 1 "${cmd[@]}" >"$json" 2>"$json.err" || rc=$?
    alive=1
    kill -0 "$SERVER_PID" 2>/dev/null || alive=0
    bench_stop_server
    what=""
    # An idle run that holds fewer connections than asked exits 1 too; that is a finding about
    # the server (its descriptor limit), noted below with the count, not a failed run.
    partial_idle=0
    if [[ $w == idle-* ]] && (( rc == 1 )) && jq -e '(.held // .connected // 0) > 0' "$json" >/dev/null 2>&1; then
      partial_idle=1
    fi
    if (( rc == 124 )); then
      what="load timed out after ${limit}s (stall?)"
    elif (( rc != 0 && partial_idle == 0 )); then
      what="load exited $rc: $(messages "$json.err")"
    fi
    if (( alive == 0 )); then
      what="$what server died: $(tail -3 "$base.server.err" | tr '\n' ' ')"
    fi
    if [[ -n $what ]]; then
      status=1
      notes+=("- $s $w: $what (raw: $base.*)")
    fi
    if ! jq -e . "$json" >/dev/null 2>&1; then
      status=1
      rows+=("| $s | $w | failed | | | | | | $bg |")
      continue
    fi
    errors=$(jq -r '.errors // 0' "$json")
    if [[ $w == idle-* ]]; then
      # idle_hold says "held", ringway-load "connected".
      held=$(jq -r '.held // .connected // 0' "$json")
      rss=$(jq -r '.server_rss_per_conn_bytes // 0' "$json")
      first=$(jq -r '.first_error // (.error_reasons | select(. != null and . != {}) | tostring) // empty' "$json")
      rows+=("| $s | $w | – | – | – | – | $(printf '%.0f' "$rss") B ($held of $n held) | $errors | $bg |")
      if (( held < n )); then
        notes+=("- $s $w: held $held of $n connections; first error: ${first:-see $json.err}; $(messages "$json.err")")
      fi
    else
      rows+=("$(jq -r '[.msgs_per_s, .msgs_per_server_cpu_s, .p50_us, .p99_us, .errors] | @tsv' "$json" |
        awk -F'\t' -v s="$s" -v w="$w" -v bg="$bg" \
          '{ printf "| %s | %s | %.0f | %.0f | %.0f | %.0f | – | %d | %s |", s, w, $1, $2, $3, $4, $5, bg }')")
      percpu[$s,$w]=$(jq -r '.msgs_per_server_cpu_s // 0' "$json")
      up=$(jq -r '.connected // empty' "$json")
      if [[ -n $up ]] && (( up < n )); then
        notes+=("- $s $w: only $up of $n connections came up (ramp $(jq -r '.ramp_s' "$json") s)")
      fi
      if (( errors > 0 )) && [[ -z $what ]]; then
        reasons=$(jq -r '.error_reasons | select(. != null and . != {}) | tostring' "$json")
        notes+=("- $s $w: $errors errors: ${reasons:-$(messages "$json.err")}")
      fi
    fi
  done
done

# ---- report ----

{
  echo "# WebSocket echo comparison"
  echo
  echo "- date: $(date -Is)"
  echo "- machine: kernel $(uname -r), $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | lines 1)"
  echo "- command: \`$COMMAND\`"
  echo "- git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (work tree modified)')"
  echo "- servers pinned to CPU 0 (\`taskset -c 0\`), load to CPU 1 (\`taskset -c 1\`); each server started fresh for each run"
  if [[ $LOAD == ringway-load ]]; then
    echo "- load: \`$RINGWAY_LOAD echo|idle ...\` (one command per run in $RAW/*.cmd)"
  else
    echo "- load: \`$ECHO_LOAD\` for echo, \`$IDLE_HOLD_BIN\` (bench/peers/idle_hold.cc) for idle$( [[ -x $RINGWAY_LOAD ]] && echo " (LOAD=echo_load)" || echo "; ringway-load was not built") (one command per run in $RAW/*.cmd)"
  fi
  echo "- echo runs: $WARMUP s warmup then $DURATION s measured; binary messages, every echo checked; msgs per server CPU-s from /proc/PID/stat utime+stime over the measured window"
  echo "- idle runs: connections opened from 127.0.0.1–.8, then server VmRSS after minus before, divided by the connections held; held $IDLE_HOLD s more"
  echo "- servers: ringway \`--workers 1\`; min_echo (io_uring floor); beast_echo (Boost.Beast $(dpkg-query -W -f='${Version}' libboost-dev 2>/dev/null || echo '?'), one io_context thread); ws_echo (node $($NODE --version 2>/dev/null || echo '?'), ws $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' /usr/share/nodejs/ws/package.json 2>/dev/null | lines 1)); gorilla_echo ($(go version 2>/dev/null | awk '{print $3}'), gorilla/websocket $(dpkg-query -W -f='${Version}' golang-github-gorilla-websocket-dev 2>/dev/null || echo '?'), GOMAXPROCS 1)"
  if ((${#skipped[@]})); then echo "- skipped: ${skipped[*]}"; fi
  if [[ -n ${BUILD_WARNING:-} ]]; then echo "- **warning: $BUILD_WARNING**"; fi
  echo "- machine busy before the runs: ${busy0}% of all CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end${top_procs:+; busiest processes at the start: $top_procs}"
  if (( busy0 > 10 )); then
    echo "- **warning: other processes were using the CPUs; the numbers are disturbed (see the last column)**"
  fi
  echo "- the open-file limit is $(ulimit -Hn) per process (hard): no one-process server here can hold more connections than that, unless it uses io_uring direct descriptors (ringway: one table per ring)"
  echo
  echo "| server | workload | msgs/s | msgs per server CPU-s | p50 µs | p99 µs | server RSS per idle conn | errors | machine busy before % |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  if wants ringway; then
    echo "Messages per server CPU-second relative to ringway (same workload, same session; >1 means less CPU per message than ringway):"
    echo
    header="| workload |" sep="|---|"
    for s in "${available[@]}"; do
      [[ $s == ringway || $s == ringway_3w ]] && continue
      header+=" $s |" sep+="---:|"
    done
    echo "$header"
    echo "$sep"
    for w in $WORKLOADS; do
      [[ $w == idle-* ]] && continue
      line="| $w |"
      for s in "${available[@]}"; do
        [[ $s == ringway || $s == ringway_3w ]] && continue
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
