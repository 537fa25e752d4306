// Level boundaries, wrap-around of every level and very long timeouts.
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "timer/timer_wheel.h"

namespace ringway::timer {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

uint64_t pow64(unsigned k) { return k * 6 >= 64 ? 0 : uint64_t{1} << (6 * k); }

// Arms a single timer at `expiry` from `start`, then checks it stays quiet at expiry - 1 (by a
// single jump) and fires at expiry, both when stepping in one jump and via the sleep loop.
void expect_exact(uint64_t start, uint64_t expiry) {
  SCOPED_TRACE(testing::Message() << "start=" << start << " expiry=" << expiry);
  {
    TimerWheel w(start);
    TimerNode n;
    w.arm(n, expiry);
    if (expiry > start) {
      EXPECT_EQ(w.advance(expiry - 1, [](TimerNode&) {}), 0u);
      EXPECT_TRUE(w.self_check());
    }
    EXPECT_EQ(w.advance(expiry, [](TimerNode&) {}), 1u);
    EXPECT_EQ(w.size(), 0u);
  }
  {
    TimerWheel w(start);
    TimerNode n;
    w.arm(n, expiry);
    uint64_t fired_at = 0;
    int wakeups = 0;
    while (auto d = w.next_timeout()) {
      ASSERT_LE(*d, expiry > w.now() ? expiry - w.now() : 0);
      ASSERT_LE(++wakeups, 12);
      w.advance(w.now() + *d, [&](TimerNode&) { fired_at = w.now(); });
      ASSERT_TRUE(w.self_check());
    }
    EXPECT_EQ(fired_at, expiry > start ? expiry : start);
  }
  {
    // Far past the expiry in one jump still fires it, once.
    TimerWheel w(start);
    TimerNode n;
    w.arm(n, expiry);
    uint64_t far = expiry > kMax / 2 ? kMax : expiry * 2 + 12345;
    EXPECT_EQ(w.advance(far, [](TimerNode&) {}), 1u);
  }
}

TEST(TimerWheelBoundary, AbsoluteLevelBoundariesAndNeighbours) {
  for (unsigned k = 1; k < TimerWheel::kLevels; ++k) {
    uint64_t b = pow64(k);
    for (uint64_t m : {uint64_t{1}, uint64_t{2}, uint64_t{63}}) {
      if (k == 10 && m > 15) continue;  // 64^10 * 16 overflows
      uint64_t e = b * m;
      for (uint64_t start : {uint64_t{0}, uint64_t{1}, e - 2, e / 2, b - 1}) {
        if (start >= e - 1) continue;
        expect_exact(start, e - 1);
        expect_exact(start, e);
        expect_exact(start, e + 1);
      }
    }
  }
}

TEST(TimerWheelBoundary, RelativeBoundariesFromOddStart) {
  // now_ not aligned to anything: offsets of 64^k and +-1 cross a different number of digits.
  const uint64_t starts[] = {37, 4095, 262'143, 1'234'567'891, (uint64_t{1} << 40) - 3,
                             (uint64_t{1} << 60) - 1};
  for (uint64_t start : starts) {
    for (unsigned k = 1; k < TimerWheel::kLevels; ++k) {
      uint64_t d = pow64(k);
      if (d > kMax - start - 1) continue;
      expect_exact(start, start + d - 1);
      expect_exact(start, start + d);
      expect_exact(start, start + d + 1);
    }
  }
}

TEST(TimerWheelBoundary, EveryLevelWrapsWhileTimersAreArmed) {
  // Walk the clock over several wraps of levels 0..2 in uneven steps with timers whose expiries
  // sit on and around each wrap; each must fire at the first advance reaching it.
  TimerWheel w(0);
  std::vector<TimerNode> nodes;
  std::vector<uint64_t> expiries;
  for (uint64_t base : {uint64_t{64}, uint64_t{4096}, uint64_t{262'144}}) {
    for (uint64_t m = 1; m <= 3; ++m) {
      for (int64_t d = -1; d <= 1; ++d) expiries.push_back(base * m + d);
    }
  }
  nodes.resize(expiries.size());
  for (size_t i = 0; i < nodes.size(); ++i) w.arm(nodes[i], expiries[i]);
  uint64_t prev = 0;
  size_t fired = 0;
  for (uint64_t t = 0; t <= 800'000; t += 1 + (t % 97)) {
    fired += w.advance(t, [&](TimerNode& n) {
      EXPECT_LE(n.expiry, t);
      EXPECT_GT(n.expiry, prev);
    });
    prev = t;
  }
  EXPECT_EQ(fired, nodes.size());
}

TEST(TimerWheelBoundary, VeryLongTimeouts) {
  const uint64_t start = 1'700'000'000'000;  // a realistic epoch-ms clock
  TimerWheel w(start);
  TimerNode day, far, farthest;
  w.arm(day, start + 86'400'000);
  w.arm(far, start + (uint64_t{1} << 40));
  w.arm(farthest, kMax);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(w.advance(start + 86'400'000 - 1, [](TimerNode&) {}), 0u);
  EXPECT_EQ(w.advance(start + 86'400'000, [&](TimerNode& n) { EXPECT_EQ(&n, &day); }), 1u);
  EXPECT_EQ(w.advance(start + (uint64_t{1} << 40) - 1, [](TimerNode&) {}), 0u);
  EXPECT_EQ(w.advance(start + (uint64_t{1} << 40), [&](TimerNode& n) { EXPECT_EQ(&n, &far); }),
            1u);
  EXPECT_EQ(w.advance(kMax - 1, [](TimerNode&) {}), 0u);
  EXPECT_TRUE(w.self_check());
  EXPECT_EQ(w.advance(kMax, [&](TimerNode& n) { EXPECT_EQ(&n, &farthest); }), 1u);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.next_timeout(), std::nullopt);
}

TEST(TimerWheelBoundary, TopLevelAndClockNearMax) {
  TimerWheel w(kMax - 10);
  TimerNode a, b;
  w.arm(a, kMax);
  w.arm(b, kMax - 5);
  EXPECT_EQ(w.next_timeout(), 5u);
  EXPECT_EQ(w.advance(kMax, [](TimerNode&) {}), 2u);
  EXPECT_EQ(w.now(), kMax);
  w.arm(a, kMax);  // == now: due
  EXPECT_EQ(w.advance(kMax, [](TimerNode&) {}), 1u);

  TimerWheel zero(0);
  zero.arm(a, uint64_t{1} << 63);  // top level, digit 8
  zero.arm(b, (uint64_t{1} << 60) - 1);
  EXPECT_TRUE(zero.self_check());
  EXPECT_EQ(zero.advance((uint64_t{1} << 60) - 1, [&](TimerNode& n) { EXPECT_EQ(&n, &b); }), 1u);
  EXPECT_EQ(zero.advance((uint64_t{1} << 63) - 1, [](TimerNode&) {}), 0u);
  EXPECT_EQ(zero.advance(uint64_t{1} << 63, [&](TimerNode& n) { EXPECT_EQ(&n, &a); }), 1u);
}

}  // namespace
}  // namespace ringway::timer
