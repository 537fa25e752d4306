# Sourced by the bench/*_compare.sh scripts: what every side-by-side run needs the same way.

# Busy share of all CPUs over half a second, in percent (run it when nothing of ours runs).
busy_pct() {
  local a b
  read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
  sleep 0.5
  read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
  a=$(( (u2+n2+s2+q2+sq2+st2) - (u1+n1+s1+q1+sq1+st1) ))
  b=$(( a + (i2+w2) - (i1+w1) ))
  echo $(( b > 0 ? 100 * a / b : 0 ))
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
