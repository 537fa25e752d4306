// Mail rings and the hub: order, fullness as backpressure, the wake-up handshake, disposal.
#include "io/mail.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace ringway::io {
namespace {

TEST(MailRing, FifoAndFullIsRefusedNotOverwritten) {
  MailRing r(8);
  EXPECT_EQ(r.capacity(), 8u);
  for (uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(r.push(Mail{1, i}));
  EXPECT_FALSE(r.push(Mail{1, 99}));
  EXPECT_EQ(r.free_space(), 0u);
  Mail m;
  for (uint32_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(r.pop(m));
    EXPECT_EQ(m.a, i);
  }
  EXPECT_FALSE(r.pop(m));
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.free_space(), 8u);
}

TEST(MailRing, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(MailRing(5).capacity(), 8u);
  EXPECT_EQ(MailRing(1).capacity(), 2u);
  EXPECT_EQ(MailRing(1024).capacity(), 1024u);
}

TEST(MailRing, TwoThreadsLoseAndReorderNothing) {
  MailRing r(64);  // small, so the producer meets a full ring often
  constexpr uint64_t kN = 500000;
  std::atomic<uint64_t> refused{0};
  std::thread producer([&] {
    for (uint64_t i = 0; i < kN; ++i)
      while (!r.push(Mail{7, 0, i, ~i})) refused.fetch_add(1, std::memory_order_relaxed);
  });
  uint64_t next = 0;
  Mail m;
  while (next < kN) {
    if (!r.pop(m)) continue;
    ASSERT_EQ(m.b, next);
    ASSERT_EQ(m.c, ~next);
    ++next;
  }
  producer.join();
  EXPECT_TRUE(r.empty());
}

TEST(MailHub, OnlyOneProducerClaimsAWakeUpPerSleep) {
  MailHub hub(2, 1, 16, nullptr);
  EXPECT_FALSE(hub.claim_wake(1));  // awake: nobody needs to wake it
  hub.inbox(1).sleeping.store(true);
  EXPECT_TRUE(hub.claim_wake(1));
  EXPECT_FALSE(hub.claim_wake(1));
  EXPECT_FALSE(hub.claim_wake(0));
}

TEST(MailHub, HasMailSeesEveryProducersRing) {
  MailHub hub(2, 2, 16, nullptr);
  EXPECT_FALSE(hub.has_mail(1));
  ASSERT_TRUE(hub.ring(3, 1).push(Mail{1}));
  EXPECT_TRUE(hub.has_mail(1));
  EXPECT_FALSE(hub.has_mail(0));
}

std::atomic<int> g_disposed{0};

TEST(MailHub, RecordsLeftAtShutdownAreDisposed) {
  g_disposed = 0;
  {
    MailHub hub(2, 1, 16, [](const Mail& m) { g_disposed += int(m.a); });
    ASSERT_TRUE(hub.ring(0, 1).push(Mail{1, 2}));
    ASSERT_TRUE(hub.ring(2, 0).push(Mail{1, 3}));
    Mail m;
    ASSERT_TRUE(hub.ring(2, 0).push(Mail{1, 100}));
    ASSERT_TRUE(hub.ring(0, 1).pop(m));  // consumed ones are not disposed again
  }
  EXPECT_EQ(g_disposed.load(), 103);
}

TEST(MailHub, OutsideSendOnAFullRingFailsWithoutWaking) {
  MailHub hub(1, 1, 2, nullptr);
  hub.inbox(0).wake_fd = -1;  // a wake-up would write to -1 and fail silently; none is due
  ASSERT_TRUE(hub.send_from_outside(1, 0, Mail{1}));
  ASSERT_TRUE(hub.send_from_outside(1, 0, Mail{1}));
  EXPECT_FALSE(hub.send_from_outside(1, 0, Mail{1}));
}

}  // namespace
}  // namespace ringway::io
