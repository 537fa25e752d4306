#pragma once
// When a Ringway client reconnects, and when it declares a silent connection dead. One copy of
// these rules for every client (the Session, ringway-cli, later the load generator), with the
// clock and the random source injected so tests can drive them with a fake clock.
//
// Backoff ("full jitter"): after the n-th consecutive failure (n = 0 for the first),
//   ceiling(n) = min(max_ms, base_ms * 2^n)        500, 1000, 2000, ... 16000, 30000, 30000 ms
//   delay      = uniform integer in [0, ceiling(n)]
// so a fleet that lost its server at one instant spreads its retries over the whole window.
// A session that lasted longer than the server's idle timeout (it was answering pings, so the
// server was healthy) resets n to 0 before the next delay is drawn. A server that asked for a
// pause (retryAfterMs on UNAVAILABLE or with close 1013) is never retried sooner than it asked:
//   delay = max(uniform[0, ceiling(n)], R + uniform[0, R * retry_after_spread_percent / 100]).
// A drain (close 1001) is not a failure: the delay is uniform in [0, drain_spread_ms] and n is
// left as it was, so the fleet of a restarting server comes back soon but not in one burst.
#include <cstdint>

namespace ringway::client {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic milliseconds: deadlines and durations.
  virtual uint64_t now_ms() = 0;
  // Unix epoch milliseconds: the signedAt of a device's proof.
  virtual uint64_t epoch_ms() = 0;
};

// CLOCK_MONOTONIC and CLOCK_REALTIME.
class SystemClock final : public Clock {
 public:
  uint64_t now_ms() override;
  uint64_t epoch_ms() override;
};

class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t next_u64() = 0;
};

// splitmix64: fast and good enough to spread delays (not for secrets).
class SplitMix64 final : public Random {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  // Seeded from the kernel's random source.
  static SplitMix64 from_os();
  uint64_t next_u64() override;

 private:
  uint64_t state_;
};

struct ReconnectPolicy {
  uint64_t base_ms = 500;             // ceiling of the first retry
  uint64_t max_ms = 30000;            // no ceiling is higher
  uint64_t drain_spread_ms = 2000;    // after close 1001: uniform in [0, this]
  uint64_t reset_after_ms = 90000;    // until a hello names the server's idleTimeoutMs
  unsigned retry_after_spread_percent = 20;
};

// How the connection or the attempt ended, as far as the delay is concerned.
enum class Ending : uint8_t {
  kFailure,  // refused, broken, dead, closed by the server for any other reason
  kDrain,    // close 1001: the server is shutting down
};

struct ReconnectPlan {
  uint64_t delay_ms = 0;
  unsigned attempt = 0;      // consecutive failures so far, this one included (a drain adds none)
  uint64_t session_ms = 0;   // how long the ended session lasted (0 when there was none)
  bool had_session = false;  // a hello had been received on the ended connection
  bool reset = false;        // the session was long enough to reset a grown backoff
};

class Backoff {
 public:
  Backoff(const ReconnectPolicy& policy, Clock& clock, Random& random);

  // A hello arrived now. reset_after_ms: the server's idle timeout (0 keeps the policy's).
  void on_session_start(uint64_t reset_after_ms);
  // The connection or attempt ended now; retry_after_ms is the server's retryAfterMs (0: none).
  ReconnectPlan on_end(Ending how, uint64_t retry_after_ms = 0);

  unsigned failures() const { return failures_; }
  void reset() { failures_ = 0; }

  // ceiling(n) of the formula above, without overflow.
  static uint64_t ceiling_ms(const ReconnectPolicy& p, unsigned failures);

 private:
  uint64_t uniform(uint64_t hi);  // [0, hi]

  ReconnectPolicy policy_;
  Clock* clock_;
  Random* random_;
  uint64_t session_start_ms_ = 0;
  uint64_t reset_after_ms_;
  unsigned failures_ = 0;
  bool in_session_ = false;
};

// The dead-connection rule. The server pings after one ping interval without hearing from the
// client and the client pings after one interval without hearing from the server, so a live
// connection never stays silent much longer than one interval plus a round trip. Silence (no
// byte received) for three intervals plus a tolerance means the path is gone even if TCP has
// not noticed:
//   ping_after_ms = pingIntervalMs
//   dead_after_ms = 3 * pingIntervalMs + max(250 ms, pingIntervalMs / 10)
// e.g. 30 s -> ping after 30 s of silence, dead after 93 s; 300 ms -> dead after 1150 ms.
inline constexpr uint64_t kDeadAfterPingIntervals = 3;
inline constexpr uint64_t kMinDeadTolerance = 250;

struct Liveness {
  uint64_t ping_after_ms = 0;  // 0: never ping
  uint64_t dead_after_ms = 0;  // 0: never declared dead

  static Liveness from_ping_interval(uint64_t ping_interval_ms);
  bool is_dead(uint64_t last_rx_ms, uint64_t now_ms) const {
    return dead_after_ms != 0 && now_ms >= last_rx_ms + dead_after_ms;
  }
};

}  // namespace ringway::client
