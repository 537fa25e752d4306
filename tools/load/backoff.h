#pragma once
// Reconnect delays for a well-behaved client: exponential growth with jitter, capped, and reset
// once a session has proved the server healthy (it lasted longer than the server's idle
// timeout). The clock and the random source are injected so tests are deterministic.
//
// Attempt n (0 for the first retry after a failure) waits a uniformly random time in
// [max(min, c/2), c] with c = min(max, min * 2^(n+1)): 100ms..200ms, 200..400, 400..800, ...
// up to 15s..30s with the defaults. Every delay lies in [min, max], and at every step, the cap
// included, the jitter spans up to a factor of two, so a fleet that lost its server at the
// same instant does not come back in lockstep.
#include <cstdint>

namespace ringway::load {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t now_ms() = 0;
};

// CLOCK_MONOTONIC milliseconds.
class MonotonicClock final : public Clock {
 public:
  uint64_t now_ms() override;
};

struct BackoffPolicy {
  uint64_t min_ms = 100;
  uint64_t max_ms = 30000;
  // A session longer than this resets the growth (the server's idle timeout: a session that
  // outlived it was answering pings, so the next failure is a fresh incident).
  uint64_t reset_after_ms = 90000;
};

class Backoff {
 public:
  Backoff(const BackoffPolicy& policy, Clock& clock, uint64_t seed);

  // A session was established now (the hello, or the 101 on the echo route).
  void on_session_start();
  // The session or the attempt ended now. Returns the delay before the next attempt and moves
  // the growth one step. A session that lasted longer than reset_after_ms first resets it.
  uint64_t next_delay_ms();

  // Duration of the session that ended at the last next_delay_ms() (0 if it never started).
  uint64_t last_session_ms() const { return last_session_ms_; }
  // Failed attempts since the last reset.
  unsigned attempts() const { return attempts_; }
  bool in_session() const { return in_session_; }
  void reset() { attempts_ = 0; }
  void set_reset_after_ms(uint64_t ms) { reset_after_ms_ = ms; }
  uint64_t reset_after_ms() const { return reset_after_ms_; }

  // The range next_delay_ms() draws from after `attempts` failures.
  static void delay_range(const BackoffPolicy& p, unsigned attempts, uint64_t& lo, uint64_t& hi);

 private:
  uint64_t random();

  const BackoffPolicy* policy_;
  Clock* clock_;
  uint64_t rng_;
  uint64_t session_start_ms_ = 0;
  uint64_t last_session_ms_ = 0;
  uint64_t reset_after_ms_;
  unsigned attempts_ = 0;
  bool in_session_ = false;
};

}  // namespace ringway::load
