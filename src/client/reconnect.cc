// The reconnect delays and the dead-connection rule (formulas in include/ringway/reconnect.h).
#include "ringway/reconnect.h"

#include <sys/random.h>

#include <algorithm>
#include <ctime>

namespace ringway::client {

namespace {

uint64_t clock_ms(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

}  // namespace

uint64_t SystemClock::now_ms() { return clock_ms(CLOCK_MONOTONIC); }
uint64_t SystemClock::epoch_ms() { return clock_ms(CLOCK_REALTIME); }

SplitMix64 SplitMix64::from_os() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = clock_ms(CLOCK_MONOTONIC) ^ 0x5bd1e995;
  return SplitMix64(seed);
}

uint64_t SplitMix64::next_u64() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Backoff::Backoff(const ReconnectPolicy& policy, Clock& clock, Random& random)
    : policy_(policy), clock_(&clock), random_(&random), reset_after_ms_(policy.reset_after_ms) {}

uint64_t Backoff::ceiling_ms(const ReconnectPolicy& p, unsigned failures) {
  uint64_t max = std::max<uint64_t>(p.max_ms, 1);
  uint64_t c = std::min(std::max<uint64_t>(p.base_ms, 1), max);
  for (unsigned i = 0; i < failures && c < max; ++i) c = c > max / 2 ? max : c * 2;
  return c;
}

uint64_t Backoff::uniform(uint64_t hi) {
  if (hi == UINT64_MAX) return random_->next_u64();
  return random_->next_u64() % (hi + 1);
}

void Backoff::on_session_start(uint64_t reset_after_ms) {
  in_session_ = true;
  session_start_ms_ = clock_->now_ms();
  reset_after_ms_ = reset_after_ms ? reset_after_ms : policy_.reset_after_ms;
}

ReconnectPlan Backoff::on_end(Ending how, uint64_t retry_after_ms) {
  ReconnectPlan plan;
  if (in_session_) {
    uint64_t now = clock_->now_ms();
    plan.had_session = true;
    plan.session_ms = now > session_start_ms_ ? now - session_start_ms_ : 0;
    in_session_ = false;
    if (plan.session_ms > reset_after_ms_ && failures_ != 0) {
      failures_ = 0;
      plan.reset = true;
    }
  }
  if (how == Ending::kDrain) {
    plan.delay_ms = uniform(policy_.drain_spread_ms);
    plan.attempt = failures_;
    return plan;
  }
  uint64_t delay = uniform(ceiling_ms(policy_, failures_));
  if (retry_after_ms) {
    uint64_t spread = retry_after_ms / 100 * policy_.retry_after_spread_percent +
                      retry_after_ms % 100 * policy_.retry_after_spread_percent / 100;
    delay = std::max(delay, retry_after_ms + uniform(spread));
  }
  if (failures_ < 64) ++failures_;
  plan.delay_ms = delay;
  plan.attempt = failures_;
  return plan;
}

Liveness Liveness::from_ping_interval(uint64_t ping_interval_ms) {
  Liveness l;
  if (ping_interval_ms == 0) return l;
  l.ping_after_ms = ping_interval_ms;
  l.dead_after_ms = kDeadAfterPingIntervals * ping_interval_ms +
                    std::max(kMinDeadTolerance, ping_interval_ms / 10);
  return l;
}

}  // namespace ringway::client
