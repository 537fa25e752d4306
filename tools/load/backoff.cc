#include "load/backoff.h"

#include <algorithm>
#include <ctime>

namespace ringway::load {

uint64_t MonotonicClock::now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

Backoff::Backoff(const BackoffPolicy& policy, Clock& clock, uint64_t seed)
    : policy_(&policy), clock_(&clock), rng_(seed | 1), reset_after_ms_(policy.reset_after_ms) {}

void Backoff::on_session_start() {
  in_session_ = true;
  session_start_ms_ = clock_->now_ms();
}

void Backoff::delay_range(const BackoffPolicy& p, unsigned attempts, uint64_t& lo, uint64_t& hi) {
  uint64_t min = std::max<uint64_t>(p.min_ms, 1);
  uint64_t max = std::max(p.max_ms, min);
  // c = min * 2^(attempts+1), computed without overflow.
  uint64_t c = min;
  for (unsigned i = 0; i <= attempts && c < max; ++i) c = c > max / 2 ? max : c * 2;
  hi = std::min(c, max);
  lo = std::max(min, hi / 2);
}

uint64_t Backoff::random() {  // splitmix64
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Backoff::next_delay_ms() {
  uint64_t now = clock_->now_ms();
  last_session_ms_ = 0;
  if (in_session_) {
    last_session_ms_ = now >= session_start_ms_ ? now - session_start_ms_ : 0;
    if (last_session_ms_ > reset_after_ms_) attempts_ = 0;
    in_session_ = false;
  }
  uint64_t lo, hi;
  delay_range(*policy_, attempts_, lo, hi);
  if (attempts_ < 64) ++attempts_;
  return lo + random() % (hi - lo + 1);
}

}  // namespace ringway::load
