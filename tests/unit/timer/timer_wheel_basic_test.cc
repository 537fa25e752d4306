#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "timer/timer_wheel.h"

namespace ringway::timer {
namespace {

struct Conn {
  int id = 0;
  TimerNode timer;
};

Conn& owner_of(TimerNode& n) {
  return *reinterpret_cast<Conn*>(reinterpret_cast<char*>(&n) - offsetof(Conn, timer));
}

std::vector<int> fire(TimerWheel& w, uint64_t now) {
  std::vector<int> ids;
  size_t count = w.advance(now, [&](TimerNode& n) {
    EXPECT_FALSE(n.armed());
    ids.push_back(owner_of(n).id);
  });
  EXPECT_EQ(count, ids.size());
  EXPECT_TRUE(w.self_check());
  return ids;
}

TEST(TimerWheelBasic, FiresAtExpiryNotBefore) {
  TimerWheel w(1000);
  Conn c{7, {}};
  w.arm(c.timer, 1010);
  EXPECT_TRUE(c.timer.armed());
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(fire(w, 1009).empty());
  EXPECT_EQ(fire(w, 1010), std::vector<int>{7});
  EXPECT_FALSE(c.timer.armed());
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.now(), 1010u);
}

TEST(TimerWheelBasic, EmptyWheel) {
  TimerWheel w(5);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.next_timeout(), std::nullopt);
  EXPECT_TRUE(fire(w, 600'005).empty());
  EXPECT_EQ(w.now(), 600'005u);
  EXPECT_EQ(w.next_timeout(), std::nullopt);
}

TEST(TimerWheelBasic, OneJumpFiresEverythingDueOnce) {
  TimerWheel w(0);
  std::vector<Conn> conns(6);
  const uint64_t expiries[] = {70'000, 5, 4096, 64, 63, 1'000'001};
  for (int i = 0; i < 6; ++i) {
    conns[i].id = i;
    w.arm(conns[i].timer, expiries[i]);
  }
  std::vector<int> ids = fire(w, 1'000'000);
  std::sort(ids.begin(), ids.end());  // order within one advance is unspecified
  EXPECT_EQ(ids, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(w.size(), 1u);
}

TEST(TimerWheelBasic, CancelAndSize) {
  TimerWheel w(0);
  Conn a{1, {}}, b{2, {}};
  w.cancel(a.timer);  // not armed: no-op
  EXPECT_EQ(w.size(), 0u);
  w.arm(a.timer, 100);
  w.arm(b.timer, 100);
  EXPECT_EQ(w.size(), 2u);
  w.cancel(a.timer);
  w.cancel(a.timer);
  EXPECT_FALSE(a.timer.armed());
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.self_check());
  EXPECT_EQ(fire(w, 100), std::vector<int>{2});
  w.arm(a.timer, 50);  // in the past now
  w.cancel(a.timer);
  EXPECT_TRUE(fire(w, 200).empty());
}

TEST(TimerWheelBasic, CancelLastNodeClearsSlot) {
  TimerWheel w(0);
  Conn a{1, {}};
  w.arm(a.timer, 300'000);
  EXPECT_TRUE(w.next_timeout().has_value());
  w.cancel(a.timer);
  EXPECT_EQ(w.next_timeout(), std::nullopt);
  EXPECT_TRUE(w.self_check());
}

TEST(TimerWheelBasic, SlotStaysOccupiedUntilItsLastNodeGoes) {
  // Nodes of one slot spread over several lanes; the slot's mask bit must outlive all but one.
  TimerWheel w(0);
  std::vector<Conn> conns(2 * TimerWheel::kLanes + 1);
  for (size_t i = 0; i < conns.size(); ++i) w.arm(conns[i].timer, 5000 + i % 3);
  for (size_t i = 0; i + 1 < conns.size(); ++i) {
    w.cancel(conns[i].timer);
    ASSERT_TRUE(w.self_check());
    ASSERT_TRUE(w.next_timeout().has_value());
  }
  EXPECT_EQ(w.next_timeout(), 5000 + (conns.size() - 1) % 3);
  w.cancel(conns.back().timer);
  EXPECT_EQ(w.next_timeout(), std::nullopt);
}

TEST(TimerWheelBasic, ReArmMovesWithoutChangingSize) {
  TimerWheel w(0);
  Conn a{1, {}};
  w.arm(a.timer, 100);
  w.arm(a.timer, 5000);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(fire(w, 4999).empty());
  EXPECT_EQ(fire(w, 5000), std::vector<int>{1});
  w.arm(a.timer, 6000);
  w.arm(a.timer, 5500);  // moved earlier
  EXPECT_EQ(fire(w, 5500), std::vector<int>{1});
}

TEST(TimerWheelBasic, ArmInThePastFiresOnNextAdvance) {
  TimerWheel w(10'000);
  Conn a{1, {}}, b{2, {}};
  w.arm(a.timer, 3);
  w.arm(b.timer, 10'000);  // exactly now
  EXPECT_EQ(w.next_timeout(), 0u);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(fire(w, 10'000).size(), 2u);  // the same `now` is enough
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheelBasic, TimeNeverGoesBack) {
  TimerWheel w(1000);
  Conn a{1, {}}, b{2, {}};
  w.arm(a.timer, 900);
  w.arm(b.timer, 1001);
  EXPECT_EQ(fire(w, 500), std::vector<int>{1});  // due timers still fire
  EXPECT_EQ(w.now(), 1000u);
  EXPECT_EQ(fire(w, 1001), std::vector<int>{2});
}

TEST(TimerWheelBasic, CancelOtherFromCallbackIncludingBatchMembers) {
  TimerWheel w(0);
  std::vector<Conn> conns(3);
  for (int i = 0; i < 3; ++i) {
    conns[i].id = i;
    w.arm(conns[i].timer, 42);  // all three land in the same batch
  }
  int fired = 0;
  size_t n = w.advance(100, [&](TimerNode& node) {
    ++fired;
    for (Conn& c : conns) w.cancel(c.timer);  // includes not-yet-fired batch members
    EXPECT_FALSE(node.armed());
  });
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(w.self_check());
}

TEST(TimerWheelBasic, MoveBatchMemberToLaterFromCallback) {
  TimerWheel w(0);
  Conn a{1, {}}, b{2, {}};
  w.arm(a.timer, 10);
  w.arm(b.timer, 10);
  std::vector<int> order;
  w.advance(10, [&](TimerNode& node) {
    order.push_back(owner_of(node).id);
    Conn& other = owner_of(node).id == 1 ? b : a;
    if (other.timer.armed()) w.arm(other.timer, 20);
  });
  ASSERT_EQ(order.size(), 1u);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(fire(w, 19).empty());
  EXPECT_EQ(fire(w, 20).size(), 1u);
}

TEST(TimerWheelBasic, ReArmFromCallback) {
  TimerWheel w(0);
  Conn a{1, {}};
  w.arm(a.timer, 5);
  int fires = 0;
  auto periodic = [&](TimerNode& n) {
    ++fires;
    w.arm(n, w.now() + 5);
  };
  for (uint64_t t = 1; t <= 100; ++t) w.advance(t, periodic);
  EXPECT_EQ(fires, 20);
  EXPECT_TRUE(a.timer.armed());
  EXPECT_EQ(a.timer.expiry, 105u);
}

TEST(TimerWheelBasic, ReArmAtNowFromCallbackDoesNotSpin) {
  TimerWheel w(0);
  Conn a{1, {}};
  w.arm(a.timer, 5);
  auto again = [&](TimerNode& n) { w.arm(n, w.now()); };
  EXPECT_EQ(w.now(), 0u);
  EXPECT_EQ(w.advance(10, again), 1u);  // re-armed at 10: waits for the next advance
  EXPECT_EQ(w.next_timeout(), 0u);
  EXPECT_EQ(w.advance(10, again), 1u);
  EXPECT_EQ(w.advance(11, [](TimerNode&) {}), 1u);
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheelBasic, ArmOthersFromCallback) {
  TimerWheel w(0);
  Conn a{1, {}}, b{2, {}}, c{3, {}};
  w.arm(a.timer, 10);
  std::vector<int> seen;
  w.advance(1000, [&](TimerNode& n) {
    seen.push_back(owner_of(n).id);
    if (owner_of(n).id == 1) {
      w.arm(b.timer, 500);   // <= this advance's now: next advance
      w.arm(c.timer, 1001);  // future
    }
  });
  EXPECT_EQ(seen, std::vector<int>{1});
  EXPECT_EQ(fire(w, 1000), std::vector<int>{2});
  EXPECT_EQ(fire(w, 1001), std::vector<int>{3});
}

TEST(TimerWheelBasic, NextTimeoutExactForSparseSlots) {
  TimerWheel w(123);
  Conn a{1, {}}, b{2, {}};
  w.arm(a.timer, 123 + 30'000);
  w.arm(b.timer, 123 + 40);  // crosses a 64 boundary: lives on level 1
  EXPECT_EQ(w.next_timeout(), 40u);
  w.cancel(b.timer);
  EXPECT_EQ(w.next_timeout(), 30'000u);
  w.arm(b.timer, 124);
  EXPECT_EQ(w.next_timeout(), 1u);
}

TEST(TimerWheelBasic, NextTimeoutEarlyButNeverLateForCrowdedSlots) {
  TimerWheel w(0);
  std::vector<Conn> conns(TimerWheel::kNextTimeoutScan + 1);
  for (size_t i = 0; i < conns.size(); ++i) w.arm(conns[i].timer, 30'000 + i);
  auto d = w.next_timeout();
  ASSERT_TRUE(d.has_value());
  EXPECT_GT(*d, 0u);
  EXPECT_LE(*d, 30'000u);
  // Sleeping on it converges: after the cascade the answer is exact.
  while (*d != 30'000 - w.now()) {
    EXPECT_EQ(w.advance(w.now() + *d, [](TimerNode&) {}), 0u);
    d = w.next_timeout();
    ASSERT_TRUE(d.has_value());
  }
  EXPECT_EQ(w.advance(30'000, [](TimerNode&) {}), 1u);
}

// The io loop's pattern: sleep next_timeout(), advance. Ten idle minutes cost a handful of
// wake-ups, and the timer fires exactly at its expiry.
TEST(TimerWheelBasic, SleepLoopAcrossEmptyStretch) {
  const uint64_t start = 987'654;
  for (uint64_t delay : std::initializer_list<uint64_t>{1, 63, 64, 4095, 600'000, 86'400'000, uint64_t{1} << 40}) {
    TimerWheel w(start);
    Conn a{1, {}};
    w.arm(a.timer, start + delay);
    int wakeups = 0;
    uint64_t fired_at = 0;
    while (auto d = w.next_timeout()) {
      ASSERT_LE(w.now() + *d, start + delay);
      ++wakeups;
      w.advance(w.now() + *d, [&](TimerNode&) { fired_at = w.now(); });
    }
    EXPECT_EQ(fired_at, start + delay) << delay;
    EXPECT_EQ(wakeups, 1) << delay;  // a lone timer: next_timeout() is exact
  }
}

TEST(TimerWheelBasic, OwnerRecoveredFromNode) {
  TimerWheel w(0);
  Conn c{99, {}};
  w.arm(c.timer, 1);
  Conn* got = nullptr;
  w.advance(1, [&](TimerNode& n) { got = &owner_of(n); });
  EXPECT_EQ(got, &c);
}

}  // namespace
}  // namespace ringway::timer
