// Subscription bookkeeping: what is sent after a hello, and the gaps a reconnect or a skipped
// offset reveals.
#include "client/subscriptions.h"

#include <gtest/gtest.h>

namespace ringway::client {
namespace {

using Strings = std::vector<std::string>;

TEST(Subscriptions, PendingUntilSentAndAgainAfterADisconnect) {
  Subscriptions s;
  EXPECT_TRUE(s.add("b"));
  EXPECT_TRUE(s.add("a"));
  EXPECT_FALSE(s.add("a"));
  EXPECT_EQ(s.pending(), (Strings{"a", "b"}));
  s.mark_sent("a");
  EXPECT_EQ(s.pending(), Strings{"b"});
  EXPECT_FALSE(s.needs_subscribe("a"));
  s.on_answer("a", "E", 3);
  s.on_disconnect();
  EXPECT_EQ(s.pending(), (Strings{"a", "b"}));
  EXPECT_EQ(s.wanted_list(), (Strings{"a", "b"}));
}

TEST(Subscriptions, FirstAnswerHasNoGap) {
  Subscriptions s;
  s.add("c");
  s.mark_sent("c");
  auto a = s.on_answer("c", "E1", 10);
  EXPECT_FALSE(a.gap);
  EXPECT_FALSE(a.resubscribed);
  EXPECT_FALSE(a.unsubscribe);
}

TEST(Subscriptions, ResubscribeReportsMissedOffsets) {
  Subscriptions s;
  s.add("c");
  s.mark_sent("c");
  s.on_answer("c", "E1", 10);
  EXPECT_FALSE(s.on_delivery("c", 11).gap);
  EXPECT_EQ(s.on_delivery("c", 12).epoch, "E1");
  s.on_disconnect();
  s.mark_sent("c");
  auto a = s.on_answer("c", "E1", 15);
  EXPECT_TRUE(a.resubscribed);
  ASSERT_TRUE(a.gap);
  EXPECT_EQ(a.gap->kind, Gap::Kind::kOffsets);
  EXPECT_EQ(a.gap->channel, "c");
  EXPECT_EQ(a.gap->first, 13u);
  EXPECT_EQ(a.gap->last, 15u);
  // Nothing missed: no gap.
  s.on_disconnect();
  s.mark_sent("c");
  EXPECT_FALSE(s.on_answer("c", "E1", 15).gap);
}

TEST(Subscriptions, ResubscribeReportsANewEpoch) {
  Subscriptions s;
  s.add("c");
  s.mark_sent("c");
  s.on_answer("c", "E1", 4);
  s.on_disconnect();
  s.mark_sent("c");
  auto a = s.on_answer("c", "E2", 2);
  ASSERT_TRUE(a.gap);
  EXPECT_EQ(a.gap->kind, Gap::Kind::kEpoch);
  EXPECT_EQ(a.gap->old_epoch, "E1");
  EXPECT_EQ(a.gap->new_epoch, "E2");
  EXPECT_EQ(a.gap->first, 1u);
  EXPECT_EQ(a.gap->last, 2u);
  EXPECT_EQ(s.on_delivery("c", 3).epoch, "E2");
}

TEST(Subscriptions, SkippedOffsetInsideASession) {
  Subscriptions s;
  s.add("c");
  s.mark_sent("c");
  s.on_answer("c", "E", 0);
  EXPECT_FALSE(s.on_delivery("c", 1).gap);
  auto d = s.on_delivery("c", 5);
  ASSERT_TRUE(d.gap);
  EXPECT_EQ(d.gap->first, 2u);
  EXPECT_EQ(d.gap->last, 4u);
  EXPECT_FALSE(s.on_delivery("c", 6).gap);
}

TEST(Subscriptions, DeviceChannelHasNoEpochAndStartsAfreshEachConnection) {
  Subscriptions s;
  auto d = s.on_delivery("device:ab", 7);
  EXPECT_FALSE(d.gap);
  EXPECT_EQ(d.epoch, "");
  EXPECT_TRUE(s.on_delivery("device:ab", 9).gap);
  s.on_disconnect();
  EXPECT_FALSE(s.on_delivery("device:ab", 20).gap);  // no baseline across connections
  EXPECT_TRUE(s.wanted_list().empty());
}

TEST(Subscriptions, GivenUpWhileInFlight) {
  Subscriptions s;
  s.add("c");
  s.mark_sent("c");
  EXPECT_TRUE(s.remove("c"));
  EXPECT_FALSE(s.wanted("c"));
  EXPECT_TRUE(s.on_delivery("c", 1).drop);
  EXPECT_TRUE(s.on_answer("c", "E", 0).unsubscribe);
  EXPECT_FALSE(s.on_delivery("c", 2).drop);  // forgotten now: treated like any channel
  s.on_disconnect();
  EXPECT_TRUE(s.pending().empty());
}

TEST(Subscriptions, RefusedKeptOrDropped) {
  Subscriptions s;
  s.add("a");
  s.add("b");
  s.mark_sent("a");
  s.mark_sent("b");
  s.on_refused("a", true);   // rate limited: try again
  s.on_refused("b", false);  // scope denied: give up
  EXPECT_EQ(s.pending(), Strings{"a"});
  EXPECT_EQ(s.wanted_list(), Strings{"a"});
}

TEST(Subscriptions, RemoveForgetsHistory) {
  Subscriptions s;
  s.add("c");
  s.mark_sent("c");
  s.on_answer("c", "E", 5);
  EXPECT_TRUE(s.remove("c"));
  EXPECT_FALSE(s.remove("c"));
  s.add("c");
  s.mark_sent("c");
  EXPECT_FALSE(s.on_answer("c", "E", 9).gap);
}

}  // namespace
}  // namespace ringway::client
