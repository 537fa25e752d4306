# bench/common.sh: what the comparison scripts share, sourced after `cd` to the repository.
# bench_needs NAME TOOL...   exits 2 naming the first missing tool
# bench_workdir              a temporary directory in $work, and $pids (servers the script
#                            started), killed and removed on exit
# bench_busy                 $busy_pct: how busy all CPUs were over one second, before the runs
# median                     the median of the numbers on stdin (0 when there are none)
# count_of N                 1k = 1000, 1M = 1000000, else N as it is
# bench_stop_server          stops $SERVER_PID (the one server a script runs at a time): TERM,
#                            up to 10 s, then KILL; bench_server_traps also runs it on exit
# fanout_identities          subscriber identities and a publisher token for fanout runs

bench_needs() {
  local name=$1
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: needs $tool" >&2; exit 2; }
  done
}

bench_workdir() {
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}

# Other work on these CPUs skews every figure: the reports say how busy they were.
bench_busy() {
  local u1 n1 s1 i1 w1 q1 sq1 st1 u2 n2 s2 i2 w2 q2 sq2 st2 busy total
  read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
  sleep 1
  read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
  busy=$(( (u2+n2+s2+q2+sq2+st2) - (u1+n1+s1+q1+sq1+st1) ))
  total=$(( busy + (i2+w2) - (i1+w1) ))
  busy_pct=$(( total > 0 ? 100 * busy / total : 0 ))
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

count_of() {
  case $1 in
    *M) echo $(( ${1%M} * 1000000 )) ;;
    *k) echo $(( ${1%k} * 1000 )) ;;
    *) echo "$1" ;;
  esac
}

# fanout_identities LOAD COUNT DIR CHANNEL: DIR/keys and DIR/registry for COUNT subscribing
# devices (`ringway-load keys`), and a publisher's service token in DIR/token with its digest
# line in DIR/tokens (the server's --service-tokens file).
fanout_identities() {
  local load=$1 count=$2 dir=$3 channel=$4 mask
  "$load" keys --count "$count" --out-keys "$dir/keys" --out-registry "$dir/registry" \
    --scopes "subscribe:$channel" 2>/dev/null
  mask=$(umask)
  umask 077  # the token is a secret, however short-lived
  od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/token"
  umask "$mask"
  echo "bench-publisher $(tr -d '\n' <"$dir/token" | sha256sum | cut -d' ' -f1) publish:$channel" \
    >"$dir/tokens"
}

SERVER_PID=""
bench_stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

bench_server_traps() {
  trap bench_stop_server EXIT
  trap 'exit 130' INT TERM
}
