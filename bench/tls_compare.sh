#!/usr/bin/env bash
# wss:// against ws:// in one run, both driven by ringway-load: echo messages per server
# CPU-second (100 connections x 512 B, depth 1; ringway --workers 1 on CPU 0, the load on CPU 1,
# one server with a plain and a TLS listener, the order alternating per repeat), TLS handshakes
# per server CPU-second (connect --reconnect on /echo: TCP + TLS + upgrade + close; full, and
# resumed with --tls-resume; plain for reference), the echo at one offered rate for both, and
# idle memory per connection, marginal:
# server RSS at N2 minus at N1 idle connections over N2 - N1, a fresh server per point. The test
# certificates are made here by openssl in a temporary directory (as tests/integration/conftest.py
# does). Prints a Markdown report with the machine, date and commit.
#
#   bash bench/tls_compare.sh
#   DURATION=5 WARMUP=1 REPEAT=1 IDLE_N1=1000 IDLE_N2=5000 bash bench/tls_compare.sh
#
# Needs: build/release/{src/app/ringway,tools/ringway-load}, openssl, taskset, jq.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build/release}
REPEAT=${REPEAT:-3}                 # echo runs per scheme, alternating which goes first
DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} HS_DURATION=${HS_DURATION:-10}  # seconds
# The echo again at one offered rate for both (open loop, messages/s in total): the closed loop
# runs as fast as the client goes, and TLS costs the one-core client more than the server, so
# the wss server gets fewer messages per loop turn (less batching) than the ws one.
RATE=${RATE:-15000}
IDLE_N1=${IDLE_N1:-2000}
IDLE_N2=${IDLE_N2:-10000}
RINGWAY=$BUILD_DIR/src/app/ringway
LOAD=$BUILD_DIR/tools/ringway-load

for bin in "$RINGWAY" "$LOAD"; do
  if [[ ! -x $bin ]]; then
    echo "tls_compare: missing $bin (bash tools/build.sh Release)" >&2
    exit 2
  fi
done
. bench/common.sh
bench_needs tls_compare openssl taskset jq
bench_workdir

# A throw-away CA and a certificate for localhost and 127.0.0.1.
pki() {
  local q=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${q[@]}" -keyout "$work/ca.key" -out "$work/ca.pem" -days 2 \
    -subj "/CN=ringway bench CA" 2>/dev/null
  openssl req "${q[@]}" -keyout "$work/server.key" -out "$work/server.csr" \
    -subj "/CN=localhost" 2>/dev/null
  echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$work/server.ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -out "$work/server.pem" -days 2 -extfile "$work/server.ext" 2>/dev/null
}
pki

# start NAME CPUS ARGS...: a server with a plain and a TLS listener; sets PID, WS_PORT, WSS_PORT.
start() {
  local name=$1 cpus=$2 out="$work/$1.out"
  shift 2
  local pre=()
  [[ $cpus != - ]] && pre=(taskset -c "$cpus")
  "${pre[@]}" "$RINGWAY" --listen 127.0.0.1:0 --listen 127.0.0.1:0,tls \
    --tls-cert "$work/server.pem" --tls-key "$work/server.key" --state-dir "$work" "$@" \
    >"$out" 2>"$out.err" &
  PID=$!
  pids+=("$PID")
  for _ in $(seq 100); do
    WS_PORT=$(sed -n 's|^ *ws://127\.0\.0\.1:\([0-9]*\)/echo.*|\1|p' "$out" | head -1)
    WSS_PORT=$(sed -n 's|^ *wss://127\.0\.0\.1:\([0-9]*\)/echo.*|\1|p' "$out" | head -1)
    [[ -n $WS_PORT && -n $WSS_PORT ]] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "tls_compare: $name did not start:" >&2
  cat "$out" "$out.err" >&2
  exit 1
}
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# url SCHEME: the echo route of the current server.
url() { if [[ $1 == wss ]]; then echo "wss://localhost:$WSS_PORT/echo"; else echo "ws://localhost:$WS_PORT/echo"; fi; }
tls_args() { [[ $1 == wss ]] && echo "--ca-file $work/ca.pem" || true; }

bench_busy
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

echo "# wss:// against ws://"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- commit: $commit"
echo "- kernel: $(uname -r); nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "- command: $(printf '%q ' env DURATION="$DURATION" WARMUP="$WARMUP" REPEAT="$REPEAT" RATE="$RATE" HS_DURATION="$HS_DURATION" IDLE_N1="$IDLE_N1" IDLE_N2="$IDLE_N2" bash "$0")"
echo "- machine busy before the runs: ${busy_pct}% of all CPUs over 1 s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
if (( busy_pct > 10 )); then
  echo "- **warning: other processes were using the CPUs; the numbers below are disturbed**"
fi
echo

status=0
# run NAME ARGS...: ringway-load on CPU 1 into $work/NAME.json; a failure is reported.
run() {
  local name=$1
  shift
  if ! taskset -c 1 "$LOAD" "$@" --server-pid "$PID" --json --quiet >"$work/$name.json" 2>"$work/$name.err"; then
    status=1
    echo "tls_compare: $name failed:" >&2
    tail -5 "$work/$name.err" >&2
  fi
}
col() { local k=$1; shift; for f in "$@"; do [[ -s $f ]] && jq -r ".$k" "$f"; done | median; }
sum() { local k=$1; shift; for f in "$@"; do [[ -s $f ]] && jq -r ".$k" "$f"; done | awk '{ s += $1 } END { print s + 0 }'; }

# --- echo -----------------------------------------------------------------------------------
start echo 0 --workers 1
echo_cmd="ringway-load echo --url SCHEME://localhost:PORT/echo [--ca-file ca.pem] --connections 100 --size 512 --depth 1 --duration ${DURATION}s --warmup ${WARMUP}s --server-pid PID --json"
for rep in $(seq "$REPEAT"); do
  order=(ws wss)
  (( rep % 2 == 0 )) && order=(wss ws)
  for s in "${order[@]}"; do
    # shellcheck disable=SC2046
    run "echo-$s-$rep" echo --url "$(url $s)" $(tls_args $s) --connections 100 --size 512 \
      --depth 1 --duration "${DURATION}s" --warmup "${WARMUP}s"
  done
done
for rep in $(seq "$REPEAT"); do
  order=(ws wss)
  (( rep % 2 == 0 )) && order=(wss ws)
  for s in "${order[@]}"; do
    # shellcheck disable=SC2046
    run "rate-$s-$rep" echo --url "$(url $s)" $(tls_args $s) --connections 100 --size 512 \
      --depth 1 --rate "$RATE" --duration "${DURATION}s" --warmup "${WARMUP}s"
  done
done
# echo_table PREFIX: the table rows of the PREFIX-SCHEME-REP runs into $rows, wss/ws of the
# medians into $table_ratio.
echo_table() {
  local s files
  declare -A per_cpu=()
  rows=()
  for s in ws wss; do
    files=("$work/$1-$s-"*.json)
    per_cpu[$s]=$(col msgs_per_server_cpu_s "${files[@]}")
    rows+=("$(printf '| %s | %.0f | %.0f | %.1f | %.1f | %d |' "$s" "$(col msgs_per_s "${files[@]}")" \
      "${per_cpu[$s]}" "$(col p50_us "${files[@]}")" "$(col p99_us "${files[@]}")" "$(sum errors "${files[@]}")")")
  done
  table_ratio=$(awk -v a="${per_cpu[wss]}" -v b="${per_cpu[ws]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
}
echo_table echo
echo_rows=("${rows[@]}") ratio=$table_ratio
echo_table rate
rate_rows=("${rows[@]}") rate_ratio=$table_ratio
ratios=()
for rep in $(seq "$REPEAT"); do
  ratios+=("$(awk -v a="$(col msgs_per_server_cpu_s "$work/echo-wss-$rep.json")" \
    -v b="$(col msgs_per_server_cpu_s "$work/echo-ws-$rep.json")" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')")
done

# --- handshakes -----------------------------------------------------------------------------
hs_cmd="ringway-load connect --reconnect --url SCHEME://localhost:PORT/echo [--ca-file ca.pem] [--tls-resume] --connections 20 --duration ${HS_DURATION}s --server-pid PID --json"
for kind in ws wss-full wss-resumed; do
  s=${kind%%-*}
  extra=()
  [[ $kind == wss-resumed ]] && extra=(--tls-resume)
  # shellcheck disable=SC2046
  run "hs-$kind" connect --reconnect --url "$(url $s)" $(tls_args $s) "${extra[@]}" \
    --connections 20 --duration "${HS_DURATION}s"
done
stop "$PID"
hs_rows=()
for kind in ws wss-full wss-resumed; do
  f="$work/hs-$kind.json"
  hs_rows+=("$(printf '| %s | %.0f | %.0f | %d / %d | %.1f | %d |' "$kind" "$(col connects_per_s "$f")" \
    "$(col connects_per_server_cpu_s "$f")" "$(col tls_resumed "$f")" "$(col tls_handshakes "$f")" \
    "$(col client_cpu_s "$f")" "$(sum errors "$f")")")
done

# --- idle memory ----------------------------------------------------------------------------
idle_cmd="ringway --workers 2; ringway-load idle --url SCHEME://127.0.0.1:PORT/echo [--ca-file ca.pem] --connections N --threads 2 --source-addrs 127.0.0.1-127.0.0.4 --max-connecting 256 --duration 3s --server-pid PID --json"
idle_rows=()
for s in ws wss; do
  declare -A rss=()
  for n in "$IDLE_N1" "$IDLE_N2"; do
    start "idle-$s-$n" - --workers 2
    u=$(url $s); u=${u/localhost/127.0.0.1}
    # shellcheck disable=SC2046
    "$LOAD" idle --url "$u" $(tls_args $s) --connections "$n" --threads 2 \
      --source-addrs 127.0.0.1-127.0.0.4 --max-connecting 256 --duration 3s --server-pid "$PID" \
      --json --quiet >"$work/idle-$s-$n.json" 2>"$work/idle-$s-$n.err" || {
        status=1; echo "tls_compare: idle $s $n failed:" >&2; tail -5 "$work/idle-$s-$n.err" >&2; }
    stop "$PID"
    rss[$n]=$(col server_rss_kb "$work/idle-$s-$n.json")
    connected=$(col connected "$work/idle-$s-$n.json")
    (( connected == n )) || { status=1; echo "tls_compare: idle $s: $connected of $n connected" >&2; }
  done
  per=$(awk -v a="${rss[$IDLE_N2]}" -v b="${rss[$IDLE_N1]}" -v n="$((IDLE_N2 - IDLE_N1))" \
    'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
  idle_rows+=("| $s | ${rss[$IDLE_N1]} KiB | ${rss[$IDLE_N2]} KiB | $per B |")
  unset rss
done

echo "## Echo, 100 connections × 512 B, depth 1 (medians of $REPEAT runs each)"
echo
echo "    $echo_cmd"
echo
echo "| scheme | msgs/s | msgs per server CPU-s | p50 µs | p99 µs | errors |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${echo_rows[@]}"
echo
echo "wss/ws, messages per server CPU-second: **$ratio** (each repeat: ${ratios[*]}; target ≥ 0.8)"
echo
echo "### The same at one offered rate, $RATE messages/s (open loop, medians of $REPEAT runs each)"
echo
echo "| scheme | msgs/s | msgs per server CPU-s | p50 µs | p99 µs | errors |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rate_rows[@]}"
echo
echo "wss/ws at $RATE messages/s, messages per server CPU-second: **$rate_ratio**"
echo
echo "## Handshakes: connect, upgrade, close, again (20 at a time, ${HS_DURATION} s)"
echo
echo "    $hs_cmd"
echo
echo "| kind | connects/s | connects per server CPU-s | resumed / TLS handshakes | client CPU s | errors |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${hs_rows[@]}"
echo
echo "## Idle memory per connection, marginal ($IDLE_N1 → $IDLE_N2 connections, a fresh server each)"
echo
echo "    $idle_cmd"
echo
echo "| scheme | server RSS at $IDLE_N1 | at $IDLE_N2 | per added connection |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${idle_rows[@]}"
exit $status
