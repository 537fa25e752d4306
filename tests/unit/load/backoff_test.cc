#include "load/backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace ringway::load {
namespace {

class FakeClock final : public Clock {
 public:
  uint64_t now_ms() override { return now; }
  uint64_t now = 1'000'000;
};

struct Range {
  uint64_t lo, hi;
};

Range range_of(const BackoffPolicy& p, unsigned attempts) {
  Range r{};
  Backoff::delay_range(p, attempts, r.lo, r.hi);
  return r;
}

TEST(Backoff, RangesDoubleFromTheMinimum) {
  BackoffPolicy p;  // 100 ms .. 30 s
  EXPECT_EQ(range_of(p, 0).lo, 100u);
  EXPECT_EQ(range_of(p, 0).hi, 200u);
  EXPECT_EQ(range_of(p, 1).lo, 200u);
  EXPECT_EQ(range_of(p, 1).hi, 400u);
  EXPECT_EQ(range_of(p, 2).lo, 400u);
  EXPECT_EQ(range_of(p, 2).hi, 800u);
  EXPECT_EQ(range_of(p, 7).hi, 25600u);
  // Capped from here on, with the jitter still spanning a factor of two.
  for (unsigned a : {8u, 9u, 20u, 63u, 64u, 1000u}) {
    EXPECT_EQ(range_of(p, a).hi, 30000u) << a;
    EXPECT_EQ(range_of(p, a).lo, 15000u) << a;
  }
}

TEST(Backoff, GrowsWithEachFailedAttempt) {
  BackoffPolicy p;
  FakeClock clock;
  Backoff b(p, clock, 1);
  for (unsigned a = 0; a < 12; ++a) {
    Range r = range_of(p, a);
    uint64_t d = b.next_delay_ms();
    EXPECT_GE(d, r.lo) << "attempt " << a;
    EXPECT_LE(d, r.hi) << "attempt " << a;
    EXPECT_EQ(b.attempts(), a + 1);
    EXPECT_EQ(b.last_session_ms(), 0u);  // no session was ever established
    clock.now += d;
  }
}

TEST(Backoff, NeverExceedsTheCapOrGoesUnderTheMinimum) {
  BackoffPolicy p{250, 5000, 90000};
  FakeClock clock;
  Backoff b(p, clock, 99);
  for (int i = 0; i < 10000; ++i) {
    uint64_t d = b.next_delay_ms();
    ASSERT_GE(d, 250u);
    ASSERT_LE(d, 5000u);
  }
}

TEST(Backoff, JitterCoversTheWholeRange) {
  BackoffPolicy p;
  FakeClock clock;
  uint64_t lo = ~uint64_t{0}, hi = 0;
  std::set<uint64_t> distinct;
  int low_half = 0, high_half = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    Backoff b(p, clock, seed);
    uint64_t d = b.next_delay_ms();  // attempt 0: [100, 200]
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    distinct.insert(d);
    (d < 150 ? low_half : high_half)++;
  }
  EXPECT_GE(lo, 100u);
  EXPECT_LE(hi, 200u);
  EXPECT_LE(lo, 105u);
  EXPECT_GE(hi, 195u);
  EXPECT_GT(distinct.size(), 80u);
  EXPECT_GT(low_half, 800);
  EXPECT_GT(high_half, 800);
}

TEST(Backoff, JitterAtTheCapStillSpreads) {
  BackoffPolicy p;
  FakeClock clock;
  Backoff b(p, clock, 5);
  for (int i = 0; i < 20; ++i) b.next_delay_ms();
  std::set<uint64_t> seen;
  for (int i = 0; i < 200; ++i) {
    uint64_t d = b.next_delay_ms();
    EXPECT_GE(d, 15000u);
    EXPECT_LE(d, 30000u);
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 150u);
}

TEST(Backoff, SameSeedSameSequence) {
  BackoffPolicy p;
  FakeClock c1, c2;
  Backoff a(p, c1, 1234), b(p, c2, 1234);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.next_delay_ms(), b.next_delay_ms());
}

TEST(Backoff, ResetsAfterASessionLongerThanTheIdleTimeout) {
  BackoffPolicy p;  // reset_after 90 s
  FakeClock clock;
  Backoff b(p, clock, 7);
  for (int i = 0; i < 6; ++i) b.next_delay_ms();
  EXPECT_EQ(b.attempts(), 6u);
  b.on_session_start();
  EXPECT_TRUE(b.in_session());
  clock.now += 90001;
  uint64_t d = b.next_delay_ms();
  EXPECT_FALSE(b.in_session());
  EXPECT_EQ(b.last_session_ms(), 90001u);
  EXPECT_GE(d, 100u);
  EXPECT_LE(d, 200u);
  EXPECT_EQ(b.attempts(), 1u);
}

TEST(Backoff, KeepsGrowingAfterAShortSession) {
  BackoffPolicy p;
  FakeClock clock;
  Backoff b(p, clock, 7);
  for (int i = 0; i < 6; ++i) b.next_delay_ms();
  b.on_session_start();
  clock.now += 10000;  // 10 s: the server dropped us again soon
  uint64_t d = b.next_delay_ms();
  EXPECT_EQ(b.last_session_ms(), 10000u);
  Range r = range_of(p, 6);
  EXPECT_GE(d, r.lo);
  EXPECT_LE(d, r.hi);
  EXPECT_EQ(b.attempts(), 7u);
}

TEST(Backoff, ASessionOfExactlyTheIdleTimeoutDoesNotReset) {
  BackoffPolicy p;
  FakeClock clock;
  Backoff b(p, clock, 7);
  for (int i = 0; i < 3; ++i) b.next_delay_ms();
  b.on_session_start();
  clock.now += 90000;
  b.next_delay_ms();
  EXPECT_EQ(b.attempts(), 4u);
}

TEST(Backoff, ResetThresholdComesFromTheServer) {
  BackoffPolicy p;
  FakeClock clock;
  Backoff b(p, clock, 7);
  b.set_reset_after_ms(3000);  // the hello's idleTimeoutMs
  for (int i = 0; i < 4; ++i) b.next_delay_ms();
  b.on_session_start();
  clock.now += 3001;
  uint64_t d = b.next_delay_ms();
  EXPECT_LE(d, 200u);
  EXPECT_EQ(b.attempts(), 1u);
}

TEST(Backoff, FailedAttemptsWithoutSessionNeverReset) {
  BackoffPolicy p;
  FakeClock clock;
  Backoff b(p, clock, 7);
  for (int i = 0; i < 5; ++i) {
    b.next_delay_ms();
    clock.now += 1'000'000;  // long waits between failed attempts are not sessions
  }
  EXPECT_EQ(b.attempts(), 5u);
}

TEST(Backoff, DegeneratePolicies) {
  FakeClock clock;
  BackoffPolicy fixed{500, 500, 1000};
  Backoff b(fixed, clock, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.next_delay_ms(), 500u);
  BackoffPolicy inverted{1000, 10, 1000};  // max below min: min wins
  Backoff c(inverted, clock, 1);
  EXPECT_EQ(c.next_delay_ms(), 1000u);
}

}  // namespace
}  // namespace ringway::load
