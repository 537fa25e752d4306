// The reconnect policy with a fake clock: the full-jitter formula, growth, the reset after a
// long session, retryAfterMs, drains, and the dead-connection numbers.
#include "ringway/reconnect.h"

#include <gtest/gtest.h>

#include <set>

#include "fakes.h"

namespace ringway::client {
namespace {

using test::FakeClock;
using test::ScriptedRandom;

TEST(Backoff, CeilingDoublesFromTheBaseUpToTheCap) {
  ReconnectPolicy p;  // 500 ms .. 30 s
  const uint64_t expected[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (unsigned n = 0; n < 8; ++n) EXPECT_EQ(Backoff::ceiling_ms(p, n), expected[n]) << n;
  EXPECT_EQ(Backoff::ceiling_ms(p, 64), 30000u);
  EXPECT_EQ(Backoff::ceiling_ms(p, 100000), 30000u);  // no overflow
  ReconnectPolicy odd{100, 250};
  EXPECT_EQ(Backoff::ceiling_ms(odd, 0), 100u);
  EXPECT_EQ(Backoff::ceiling_ms(odd, 1), 200u);
  EXPECT_EQ(Backoff::ceiling_ms(odd, 2), 250u);
}

TEST(Backoff, FullJitterSpansZeroToTheCeiling) {
  ReconnectPolicy p;
  FakeClock clock;
  // Scripted draws: x % (c + 1). 0 gives 0; c gives c; c + 1 wraps to 0.
  ScriptedRandom lowest({0});
  Backoff a(p, clock, lowest);
  EXPECT_EQ(a.on_end(Ending::kFailure).delay_ms, 0u);
  ScriptedRandom highest({UINT64_MAX - 1});
  Backoff b(p, clock, highest);
  for (unsigned n = 0; n < 10; ++n) {
    uint64_t c = Backoff::ceiling_ms(p, n);
    ReconnectPlan plan = b.on_end(Ending::kFailure);
    EXPECT_LE(plan.delay_ms, c);
    EXPECT_EQ(plan.attempt, n + 1);
    EXPECT_FALSE(plan.had_session);
  }
  ScriptedRandom exact({500});
  Backoff d(p, clock, exact);
  EXPECT_EQ(d.on_end(Ending::kFailure).delay_ms, 500u);   // 500 % 501: the ceiling itself
  EXPECT_EQ(d.on_end(Ending::kFailure).delay_ms, 500u);   // 500 % 1001
}

TEST(Backoff, DelaysAreSpreadAndBoundedWithARealRandomSource) {
  ReconnectPolicy p;
  FakeClock clock;
  SplitMix64 rng(42);
  for (unsigned n = 0; n < 8; ++n) {
    std::set<uint64_t> seen;
    uint64_t c = Backoff::ceiling_ms(p, n);
    for (int i = 0; i < 200; ++i) {
      Backoff b(p, clock, rng);
      for (unsigned k = 0; k < n; ++k) b.on_end(Ending::kFailure);
      uint64_t d = b.on_end(Ending::kFailure).delay_ms;
      ASSERT_LE(d, c);
      seen.insert(d);
    }
    EXPECT_GT(seen.size(), 100u) << "attempt " << n << ": a fleet would retry in lockstep";
  }
}

TEST(Backoff, ALongSessionResetsTheGrowthAShortOneDoesNot) {
  ReconnectPolicy p;
  FakeClock clock;
  ScriptedRandom r({7});
  Backoff b(p, clock, r);
  for (int i = 0; i < 5; ++i) b.on_end(Ending::kFailure);
  EXPECT_EQ(b.failures(), 5u);

  // A session shorter than the idle timeout the hello named: the server may be flapping.
  b.on_session_start(900);
  clock.advance(900);
  ReconnectPlan plan = b.on_end(Ending::kFailure);
  EXPECT_TRUE(plan.had_session);
  EXPECT_EQ(plan.session_ms, 900u);
  EXPECT_FALSE(plan.reset);
  EXPECT_EQ(plan.attempt, 6u);

  // Longer than the idle timeout: the next failure is a fresh incident.
  b.on_session_start(900);
  clock.advance(901);
  plan = b.on_end(Ending::kFailure);
  EXPECT_TRUE(plan.reset);
  EXPECT_EQ(plan.session_ms, 901u);
  EXPECT_EQ(plan.attempt, 1u);
  EXPECT_EQ(plan.delay_ms, 7u % 501u);
  EXPECT_EQ(b.failures(), 1u);

  // Without a number from the hello the policy's default (90 s) applies.
  b.on_session_start(0);
  clock.advance(89999);
  EXPECT_FALSE(b.on_end(Ending::kFailure).reset);
  b.on_session_start(0);
  clock.advance(90001);
  EXPECT_TRUE(b.on_end(Ending::kFailure).reset);

  // Nothing had grown: nothing to reset, and the first retry is attempt 1 either way.
  Backoff fresh(p, clock, r);
  fresh.on_session_start(900);
  clock.advance(5000);
  plan = fresh.on_end(Ending::kFailure);
  EXPECT_FALSE(plan.reset);
  EXPECT_EQ(plan.attempt, 1u);
}

TEST(Backoff, RetryAfterIsNeverCutShort) {
  ReconnectPolicy p;  // spread 20%
  FakeClock clock;
  ScriptedRandom zero({0});
  Backoff b(p, clock, zero);
  ReconnectPlan plan = b.on_end(Ending::kFailure, 1500);
  EXPECT_EQ(plan.delay_ms, 1500u);
  EXPECT_EQ(plan.attempt, 1u);
  SplitMix64 rng(3);
  for (int i = 0; i < 500; ++i) {
    Backoff c(p, clock, rng);
    uint64_t d = c.on_end(Ending::kFailure, 1500).delay_ms;
    EXPECT_GE(d, 1500u);
    EXPECT_LE(d, 1800u);  // 1500 + 20%
  }
  // A backoff ceiling above the request wins when its draw is larger.
  ScriptedRandom big({29000});
  Backoff e(p, clock, big);
  for (int i = 0; i < 6; ++i) e.on_end(Ending::kFailure);
  EXPECT_EQ(e.on_end(Ending::kFailure, 100).delay_ms, 29000u);
}

TEST(Backoff, DrainComesBackSoonWithJitterAndIsNotAFailure) {
  ReconnectPolicy p;  // drain spread 2 s
  FakeClock clock;
  SplitMix64 rng(9);
  Backoff b(p, clock, rng);
  for (int i = 0; i < 4; ++i) b.on_end(Ending::kFailure);
  std::set<uint64_t> seen;
  for (int i = 0; i < 300; ++i) {
    b.on_session_start(90000);
    clock.advance(10);
    ReconnectPlan plan = b.on_end(Ending::kDrain);
    EXPECT_LE(plan.delay_ms, 2000u);
    EXPECT_EQ(plan.attempt, 4u);
    seen.insert(plan.delay_ms);
  }
  EXPECT_EQ(b.failures(), 4u);
  EXPECT_GT(seen.size(), 150u);
}

TEST(Backoff, DeterministicForOneSeed) {
  ReconnectPolicy p;
  FakeClock clock;
  SplitMix64 r1(1234), r2(1234);
  Backoff a(p, clock, r1), b(p, clock, r2);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(a.on_end(Ending::kFailure).delay_ms, b.on_end(Ending::kFailure).delay_ms);
}

TEST(Liveness, ThreePingIntervalsPlusTolerance) {
  Liveness l = Liveness::from_ping_interval(30000);
  EXPECT_EQ(l.ping_after_ms, 30000u);
  EXPECT_EQ(l.dead_after_ms, 93000u);
  l = Liveness::from_ping_interval(300);
  EXPECT_EQ(l.dead_after_ms, 1150u);
  EXPECT_FALSE(l.is_dead(1000, 2149));
  EXPECT_TRUE(l.is_dead(1000, 2150));
  Liveness none = Liveness::from_ping_interval(0);
  EXPECT_FALSE(none.is_dead(0, UINT64_MAX / 2));
}

}  // namespace
}  // namespace ringway::client
