#include "auth/rate_limiter.h"

#include <gtest/gtest.h>

namespace ringway::auth {
namespace {

AddressBytes v4(uint32_t ip) {
  AddressBytes a{};
  a[10] = a[11] = 0xff;
  a[12] = static_cast<uint8_t>(ip >> 24);
  a[13] = static_cast<uint8_t>(ip >> 16);
  a[14] = static_cast<uint8_t>(ip >> 8);
  a[15] = static_cast<uint8_t>(ip);
  return a;
}

TEST(LimiterKey, KeepsIpv4AndTruncatesIpv6ToSlash64) {
  EXPECT_EQ(limiter_key(v4(0x7f000001)), v4(0x7f000001));
  AddressBytes a{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  AddressBytes b = a;
  b[15] = 99;
  b[8] = 42;
  EXPECT_EQ(limiter_key(a), limiter_key(b));
  const AddressBytes k = limiter_key(a);
  for (size_t i = 8; i < 16; ++i) EXPECT_EQ(k[i], 0);
  AddressBytes c = a;
  c[7] ^= 1;  // another /64
  EXPECT_NE(limiter_key(a), limiter_key(c));
}

TEST(FailureLimiter, BlocksAfterMaxFailuresUntilWindowEnds) {
  FailureLimiter lim(3, 10000, 100);
  const AddressBytes a = v4(1);
  uint64_t retry = 0;
  EXPECT_FALSE(lim.blocked(a, 1000, retry));
  lim.record_failure(a, 1000);
  lim.record_failure(a, 2000);
  EXPECT_FALSE(lim.blocked(a, 2000, retry));
  lim.record_failure(a, 3000);
  ASSERT_TRUE(lim.blocked(a, 3000, retry));
  EXPECT_EQ(retry, 8000u);  // window started at 1000, lasts 10000
  ASSERT_TRUE(lim.blocked(a, 10999, retry));
  EXPECT_EQ(retry, 1u);
  EXPECT_FALSE(lim.blocked(a, 11000, retry));  // window over: forgiven
  EXPECT_EQ(lim.tracked(), 0u);                // and forgotten
  lim.record_failure(a, 11000);
  EXPECT_FALSE(lim.blocked(a, 11000, retry));  // a fresh window counts from one
}

TEST(FailureLimiter, AddressesAreIndependent) {
  FailureLimiter lim(1, 1000, 100);
  uint64_t retry = 0;
  lim.record_failure(v4(1), 0);
  EXPECT_TRUE(lim.blocked(v4(1), 0, retry));
  EXPECT_FALSE(lim.blocked(v4(2), 0, retry));
}

TEST(FailureLimiter, FailuresWhileBlockedDoNotExtendTheWindow) {
  FailureLimiter lim(2, 1000, 10);
  uint64_t retry = 0;
  for (uint64_t t = 0; t < 900; t += 100) lim.record_failure(v4(1), t);
  ASSERT_TRUE(lim.blocked(v4(1), 900, retry));
  EXPECT_EQ(retry, 100u);
  EXPECT_FALSE(lim.blocked(v4(1), 1000, retry));
}

TEST(FailureLimiter, ZeroArgumentsAreRaisedToOne) {
  FailureLimiter lim(0, 0, 0);
  uint64_t retry = 0;
  lim.record_failure(v4(1), 5);
  EXPECT_TRUE(lim.blocked(v4(1), 5, retry));
  EXPECT_FALSE(lim.blocked(v4(1), 6, retry));
  EXPECT_EQ(lim.max_tracked(), 1u);
}

TEST(FailureLimiter, ClockSteppingBackDoesNotUnblock) {
  FailureLimiter lim(1, 1000, 10);
  uint64_t retry = 0;
  lim.record_failure(v4(1), 5000);
  EXPECT_TRUE(lim.blocked(v4(1), 4000, retry));
  EXPECT_EQ(retry, 2000u);
}

TEST(FailureLimiter, EvictsOldestWhenFull) {
  FailureLimiter lim(1, 1000000, 3);
  uint64_t retry = 0;
  lim.record_failure(v4(1), 1);
  lim.record_failure(v4(2), 2);
  lim.record_failure(v4(3), 3);
  EXPECT_EQ(lim.tracked(), 3u);
  lim.record_failure(v4(4), 4);  // evicts v4(1), the oldest window
  EXPECT_EQ(lim.tracked(), 3u);
  EXPECT_FALSE(lim.blocked(v4(1), 5, retry));
  EXPECT_TRUE(lim.blocked(v4(2), 5, retry));
  EXPECT_TRUE(lim.blocked(v4(4), 5, retry));
}

TEST(FailureLimiter, ExpiredEntriesAreDroppedBeforeEvictingLiveOnes) {
  FailureLimiter lim(1, 100, 3);
  uint64_t retry = 0;
  lim.record_failure(v4(1), 0);
  lim.record_failure(v4(2), 0);
  lim.record_failure(v4(3), 150);
  lim.record_failure(v4(4), 150);  // v4(1), v4(2) expired at 100: dropped, v4(3) kept
  EXPECT_EQ(lim.tracked(), 2u);
  EXPECT_TRUE(lim.blocked(v4(3), 150, retry));
  EXPECT_TRUE(lim.blocked(v4(4), 150, retry));
}

// An address flood: 1M distinct addresses inside one window never grow the table past
// max_tracked, and the most recent offenders are still blocked.
TEST(FailureLimiter, MemoryBoundedUnderAMillionAddresses) {
  constexpr size_t kMaxTracked = 4096;
  FailureLimiter lim(1, 60000, kMaxTracked);
  size_t peak = 0;
  for (uint32_t i = 0; i < 1000000; ++i) {
    lim.record_failure(v4(i), 1000 + i / 1000);
    peak = std::max(peak, lim.tracked());
  }
  EXPECT_EQ(peak, kMaxTracked);
  EXPECT_EQ(lim.tracked(), kMaxTracked);
  uint64_t retry = 0;
  EXPECT_TRUE(lim.blocked(v4(999999), 2000, retry));
  EXPECT_TRUE(lim.blocked(v4(1000000 - kMaxTracked), 2000, retry));
  EXPECT_FALSE(lim.blocked(v4(0), 2000, retry));  // forgotten early: the documented trade-off
}

TEST(AddressCounter, CapsPerAddressAndForgetsAtZero) {
  AddressCounter c;
  EXPECT_TRUE(c.try_acquire(v4(1), 2));
  EXPECT_TRUE(c.try_acquire(v4(1), 2));
  EXPECT_FALSE(c.try_acquire(v4(1), 2));
  EXPECT_EQ(c.count(v4(1)), 2u);
  EXPECT_TRUE(c.try_acquire(v4(2), 2));
  EXPECT_EQ(c.tracked(), 2u);
  c.release(v4(1));
  EXPECT_TRUE(c.try_acquire(v4(1), 2));
  c.release(v4(1));
  c.release(v4(1));
  EXPECT_EQ(c.count(v4(1)), 0u);
  EXPECT_EQ(c.tracked(), 1u);
  c.release(v4(2));
  EXPECT_EQ(c.tracked(), 0u);
  c.release(v4(3));  // never acquired: ignored
  EXPECT_EQ(c.tracked(), 0u);
}

TEST(AddressCounter, ZeroLimitAdmitsNobodyAndTracksNothing) {
  AddressCounter c;
  EXPECT_FALSE(c.try_acquire(v4(1), 0));
  EXPECT_EQ(c.tracked(), 0u);
}

TEST(AddressCounter, RefusalLeavesNoEntryBehind) {
  AddressCounter c;
  ASSERT_TRUE(c.try_acquire(v4(1), 1));
  EXPECT_FALSE(c.try_acquire(v4(1), 1));
  c.release(v4(1));
  EXPECT_EQ(c.tracked(), 0u);
}

TEST(AddressCounter, ManyAddressesReturnToEmpty) {
  AddressCounter c;
  for (uint32_t i = 0; i < 100000; ++i) ASSERT_TRUE(c.try_acquire(v4(i), 1));
  EXPECT_EQ(c.tracked(), 100000u);
  for (uint32_t i = 0; i < 100000; ++i) c.release(v4(i));
  EXPECT_EQ(c.tracked(), 0u);
}

}  // namespace
}  // namespace ringway::auth
