#!/usr/bin/env bash
# Authenticated connects per second, side by side with the bare Ed25519 verification rate of
# the same machine, and the echo latency of 100 established connections while the storm runs.
#
#   bash bench/auth_storm.sh            (DURATION=10 AUTH_THREADS=1 override)
#
# ringway runs 1 worker + AUTH_THREADS verifier threads; one ringway-load process drives a
# reconnect storm on /ws, another keeps 100 echo connections at a fixed open-loop rate.
# Placement: by default the scheduler places every thread. PIN=1 puts the worker thread alone
# on core 0 and the verifier threads with both load generators on the last core.
# The verifier's CPU comes from /proc/PID/task/*/stat of the threads named rw-verify-*.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
AUTH_THREADS="${AUTH_THREADS:-1}"
ECHO_RATE="${ECHO_RATE:-2000}"
B=build/release
cmake --build "$B" --target ringway ringway-load auth_bench >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$B/tools/ringway-load" keys --count 2000 --out-keys "$work/keys" --out-registry "$work/devices" >/dev/null
"$B/src/app/ringway" --listen 127.0.0.1:0 --workers 1 --auth-threads "$AUTH_THREADS" \
  --devices "$work/devices" --max-unauthenticated-per-address 100000 --auth-failure-limit 100000 \
  >"$work/out" 2>"$work/err" &
srv=$!
pids+=("$srv")
for _ in $(seq 50); do grep -q listening "$work/out" && break; sleep 0.1; done
port=$(grep -oP 'listening on 127.0.0.1:\K[0-9]+' "$work/out")
last=$(( $(nproc) - 1 ))
LOAD="taskset -c $last $B/tools/ringway-load"
if [[ "${PIN:-0}" == 0 ]]; then  # default: the scheduler places every thread (PIN=1 pins)
  LOAD="$B/tools/ringway-load"
else
for t in /proc/"$srv"/task/*; do
  case "$(cat "$t/comm")" in
    rw-worker-*) taskset -p -c 0 "${t##*/}" >/dev/null ;;
    *) taskset -p -c "$last" "${t##*/}" >/dev/null ;;
  esac
done
fi

verifier_ticks() {  # utime+stime of the verifier threads, in clock ticks
  local sum=0
  for t in /proc/"$srv"/task/*; do
    if grep -q '^rw-verify' "$t/comm" 2>/dev/null; then
      sum=$((sum + $(awk '{print $14 + $15}' "$t/stat")))
    fi
  done
  echo "$sum"
}
echo_run() {  # $1: output file
  $LOAD echo --url "ws://127.0.0.1:$port/echo" --connections 100 \
    --rate "$ECHO_RATE" --depth 4 --duration "${DURATION}s" --warmup 1s --quiet --json >"$1"
}

# 1. Echo latency alone.
echo_run "$work/echo-alone.json"
# 2. The storm, with the echo load running beside it.
echo_run "$work/echo-storm.json" &
epid=$!
sleep 1
t0=$(verifier_ticks)
$LOAD connect --url "ws://127.0.0.1:$port/ws" --keys "$work/keys" \
  --connections 64 --reconnect --duration "${DURATION}s" --source-addrs 127.0.0.1-127.0.0.8 \
  --server-pid "$srv" --quiet --json >"$work/storm.json"
t1=$(verifier_ticks)
wait "$epid"
# 3. The bare verification rate on this machine, now.
verify_ns=$("$B/bench/auth_bench" --benchmark_filter='BM_Ed25519Verify$' --benchmark_format=json \
  2>/dev/null | jq '.benchmarks[0].cpu_time')

hz=$(getconf CLK_TCK)
jq -n --slurpfile s "$work/storm.json" --slurpfile a "$work/echo-alone.json" \
  --slurpfile e "$work/echo-storm.json" --argjson vns "$verify_ns" --argjson ticks "$((t1 - t0))" \
  --argjson hz "$hz" --argjson threads "$AUTH_THREADS" '
  ($s[0]) as $s | ($vns | 1e9 / .) as $bare | ($ticks / $hz) as $vcpu |
  {
    connects_per_s: $s.connects_per_s,
    unavailable: $s.unavailable, failures: $s.errors,
    connect_p50_us: $s.p50_us, connect_p99_us: $s.p99_us,
    verifier_cpu_s: $vcpu,
    verifications_per_verifier_cpu_s: (if $vcpu > 0 then $s.connects / $vcpu else 0 end),
    bare_verify_per_s: $bare,
    ratio_of_bound: (if $vcpu > 0 then ($s.connects / $vcpu) / $bare else 0 end),
    connects_per_s_vs_bound: ($s.connects_per_s / ($bare * $threads)),
    echo_alone_p50_us: $a[0].p50_us, echo_alone_p99_us: $a[0].p99_us,
    echo_storm_p50_us: $e[0].p50_us, echo_storm_p99_us: $e[0].p99_us,
    echo_storm_errors: $e[0].errors
  }'
echo "date: $(date -Is)  kernel: $(uname -r)  cores: $(nproc)  command: PIN=${PIN:-0} DURATION=$DURATION AUTH_THREADS=$AUTH_THREADS ECHO_RATE=$ECHO_RATE bash bench/auth_storm.sh" >&2
