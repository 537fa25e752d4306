// Randomised checks against a reference model, and a million timers.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "timer/timer_wheel.h"

namespace ringway::timer {
namespace {

struct Item {
  TimerNode node;
  uint32_t id = 0;
  // Model state.
  bool armed = false;
  uint64_t expiry = 0;
  std::multimap<uint64_t, uint32_t>::iterator pos;
};

Item& item_of(TimerNode& n) {
  return *reinterpret_cast<Item*>(reinterpret_cast<char*>(&n) - offsetof(Item, node));
}

// Expiries spread over every level: mostly near, some far, a few enormous.
uint64_t random_delay(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0: return rng() % 64;
    case 1: return rng() % 4096;
    case 2: return rng() % 300'000;
    case 3: return 30'000 + rng() % 2000;
    case 4: return rng() % (uint64_t{1} << 24);
    case 5: return rng() % (uint64_t{1} << 40);
    case 6: return uint64_t{64} << (6 * (rng() % 6));  // exact powers of 64
    default: return rng() % 100;
  }
}

uint64_t random_step(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0: return 0;
    case 1: return 1;
    case 2: return rng() % 64;
    case 3: return rng() % 5000;
    case 4: return rng() % 400'000;
    default: return rng() % 20;
  }
}

TEST(TimerWheelRandom, NeverEarlyAndFiresAtFirstAdvanceReachingExpiry) {
  std::mt19937_64 rng(1);
  const uint64_t start = 5'000'000'123;
  TimerWheel w(start);
  std::vector<Item> items(100'000);
  for (uint32_t i = 0; i < items.size(); ++i) {
    items[i].id = i;
    // A few land in the past on purpose.
    uint64_t e = (rng() % 50 == 0) ? start - rng() % 1000 : start + random_delay(rng);
    w.arm(items[i].node, e);
  }
  ASSERT_TRUE(w.self_check());
  size_t fired = 0;
  uint64_t prev = start;
  uint64_t now = start;
  bool first = true;
  while (w.size() > 0) {
    uint64_t step = random_step(rng);
    // Occasionally jump straight to the far future to drain the 2^40 tail.
    if (rng() % 200 == 0) step = uint64_t{1} << (30 + rng() % 11);
    now += step;
    fired += w.advance(now, [&](TimerNode& n) {
      ASSERT_LE(n.expiry, now) << "fired early";
      if (n.expiry > start || !first) {
        ASSERT_GT(n.expiry, prev) << "fired late: an earlier advance had reached it";
      }
    });
    first = false;
    prev = now;
  }
  EXPECT_EQ(fired, items.size());
  EXPECT_TRUE(w.self_check());
}

// Random arm / re-arm / cancel / advance, with callbacks that cancel, re-arm and arm others,
// checked exactly against a multimap.
TEST(TimerWheelRandom, MatchesReferenceModel) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed);
    uint64_t now = seed == 1 ? 0 : rng() >> 4;
    TimerWheel w(now);
    std::multimap<uint64_t, uint32_t> model;
    std::vector<Item> items(3000);
    for (uint32_t i = 0; i < items.size(); ++i) items[i].id = i;

    auto model_cancel = [&](Item& it) {
      if (!it.armed) return;
      model.erase(it.pos);
      it.armed = false;
    };
    auto model_arm = [&](Item& it, uint64_t e) {
      model_cancel(it);
      it.armed = true;
      it.expiry = e;
      it.pos = model.emplace(e, it.id);
    };
    auto random_expiry = [&]() {
      if (rng() % 10 == 0) return now - std::min<uint64_t>(now, rng() % 100);  // past or now
      return now + random_delay(rng);
    };

    for (int round = 0; round < 20'000; ++round) {
      Item& it = items[rng() % items.size()];
      switch (rng() % 4) {
        case 0:
        case 1: {
          uint64_t e = random_expiry();
          w.arm(it.node, e);
          model_arm(it, e);
          break;
        }
        case 2:
          w.cancel(it.node);
          model_cancel(it);
          break;
        default: {
          uint64_t target = std::max(now, now + random_step(rng));
          // Everything due at the call must fire unless fn touches it first.
          std::vector<char> expected(items.size(), 0);
          for (auto e = model.begin(); e != model.end() && e->first <= target; ++e) {
            expected[e->second] = 1;
          }
          size_t count = w.advance(target, [&](TimerNode& n) {
            Item& f = item_of(n);
            ASSERT_EQ(w.now(), target);
            ASSERT_TRUE(f.armed);
            ASSERT_EQ(f.expiry, n.expiry);
            ASSERT_LE(n.expiry, target);
            ASSERT_TRUE(expected[f.id]) << "fired something armed during this advance";
            expected[f.id] = 0;
            model_cancel(f);
            // Act on this node and on random others, some of which are still in the batch.
            for (int k = 0; k < 2; ++k) {
              Item& o = items[rng() % items.size()];
              switch (rng() % 4) {
                case 0:
                  w.cancel(o.node);
                  model_cancel(o);
                  expected[o.id] = 0;
                  break;
                case 1: {
                  uint64_t e = target - std::min<uint64_t>(target, rng() % 3);  // due
                  w.arm(o.node, e);
                  model_arm(o, e);
                  expected[o.id] = 0;  // fires on the next advance instead
                  break;
                }
                case 2: {
                  uint64_t e = target + 1 + random_delay(rng);
                  w.arm(o.node, e);
                  model_arm(o, e);
                  expected[o.id] = 0;
                  break;
                }
                default:
                  break;
              }
            }
            if (rng() % 3 == 0) {
              uint64_t e = target + random_delay(rng);
              w.arm(n, e);
              model_arm(f, e);
            }
          });
          (void)count;
          now = target;
          ASSERT_EQ(std::count(expected.begin(), expected.end(), 1), 0)
              << "a due timer did not fire (round " << round << ")";
          break;
        }
      }
      ASSERT_EQ(w.size(), model.size());
      ASSERT_EQ(w.now(), now);
      auto d = w.next_timeout();
      if (model.empty()) {
        ASSERT_FALSE(d.has_value());
      } else {
        ASSERT_TRUE(d.has_value());
        uint64_t earliest = model.begin()->first;
        ASSERT_LE(*d, earliest > now ? earliest - now : 0) << "next_timeout later than earliest";
      }
      if (round % 500 == 0) {
        ASSERT_TRUE(w.self_check());
      }
    }
    ASSERT_TRUE(w.self_check());
  }
}

TEST(TimerWheelRandom, MillionTimersArmCancelHalfFireRest) {
  constexpr size_t kCount = 1'000'000;
  std::mt19937_64 rng(42);
  const uint64_t start = 77'777;
  TimerWheel w(start);
  std::vector<TimerNode> nodes(kCount);
  for (TimerNode& n : nodes) w.arm(n, start + 1 + rng() % 3'600'000);
  EXPECT_EQ(w.size(), kCount);
  for (size_t i = 0; i < kCount; i += 2) w.cancel(nodes[i]);
  EXPECT_EQ(w.size(), kCount / 2);
  EXPECT_TRUE(w.self_check());
  size_t fired = 0;
  size_t wrong = 0;
  uint64_t now = start;
  while (auto d = w.next_timeout()) {
    now += std::max<uint64_t>(*d, 1 + rng() % 50);
    fired += w.advance(now, [&](TimerNode& n) {
      size_t idx = static_cast<size_t>(&n - nodes.data());
      if (idx % 2 == 0 || n.expiry > now) ++wrong;
    });
  }
  EXPECT_EQ(fired, kCount / 2);
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(w.self_check());
}

}  // namespace
}  // namespace ringway::timer
