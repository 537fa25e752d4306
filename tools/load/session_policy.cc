#include "load/session_policy.h"

#include <cstdio>

namespace ringway::load {

SessionPolicy SessionPolicy::for_echo_route(uint64_t ping_interval_ms) {
  SessionPolicy p;
  p.dead_after_ms = kDeadAfterPingIntervals * ping_interval_ms;
  p.reset_after_ms = kDeadAfterPingIntervals * ping_interval_ms;  // the server's default idle
  return p;
}

SessionPolicy SessionPolicy::from_hello(uint64_t ping_interval_ms, uint64_t idle_timeout_ms) {
  SessionPolicy p;
  p.dead_after_ms = kDeadAfterPingIntervals * ping_interval_ms;
  p.reset_after_ms = idle_timeout_ms ? idle_timeout_ms : kDeadAfterPingIntervals * ping_interval_ms;
  return p;
}

std::string reconnect_line(uint64_t conn, bool had_session, uint64_t session_ms,
                           std::string_view why, uint64_t delay_ms, unsigned attempt) {
  char buf[512];
  if (had_session)
    std::snprintf(buf, sizeof buf,
                  "ringway-load: conn %llu: session lasted %.3f s (%.*s); reconnecting in %llu ms "
                  "(attempt %u)",
                  (unsigned long long)conn, double(session_ms) / 1000.0,
                  int(why.size() > 300 ? 300 : why.size()), why.data(),
                  (unsigned long long)delay_ms, attempt);
  else
    std::snprintf(buf, sizeof buf,
                  "ringway-load: conn %llu: attempt failed, no session (0.000 s) (%.*s); "
                  "reconnecting in %llu ms (attempt %u)",
                  (unsigned long long)conn, int(why.size() > 300 ? 300 : why.size()), why.data(),
                  (unsigned long long)delay_ms, attempt);
  return buf;
}

}  // namespace ringway::load
