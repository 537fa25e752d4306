#pragma once
// The client's half of the timing contract (PROTOCOL.md): how long a peer may stay silent
// before the connection counts as dead, when a finished session resets the reconnect backoff,
// and the one log line written per reconnect. The loop applies it; the numbers come from the
// hello (policy.pingIntervalMs, policy.idleTimeoutMs) or, on the echo route, which has no
// hello, from --ping-interval.
#include <cstdint>
#include <string>
#include <string_view>

namespace ringway::load {

// The server pings after one interval of silence and gives up after three (its default idle
// timeout), so a client that hears nothing for three intervals has lost the server.
inline constexpr uint64_t kDeadAfterPingIntervals = 3;

struct SessionPolicy {
  uint64_t dead_after_ms = 0;   // 0: never declared dead (the server does not ping)
  uint64_t reset_after_ms = 0;  // a longer session resets the backoff

  static SessionPolicy for_echo_route(uint64_t ping_interval_ms);
  static SessionPolicy from_hello(uint64_t ping_interval_ms, uint64_t idle_timeout_ms);

  bool is_dead(uint64_t last_rx_ms, uint64_t now_ms) const {
    return dead_after_ms && now_ms >= last_rx_ms + dead_after_ms;
  }
  // When to look again (the timer is not moved on every packet: last_rx is re-read then).
  uint64_t next_check_ms(uint64_t last_rx_ms) const { return last_rx_ms + dead_after_ms; }
};

// "conn 7: session lasted 12.345 s (server closed 1001 server shutting down); reconnecting
// in 180 ms (attempt 1)"; a failed attempt says "attempt failed, no session (0.000 s)".
std::string reconnect_line(uint64_t conn, bool had_session, uint64_t session_ms,
                           std::string_view why, uint64_t delay_ms, unsigned attempt);

}  // namespace ringway::load
