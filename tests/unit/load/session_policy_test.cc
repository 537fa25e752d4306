#include "load/session_policy.h"

#include <gtest/gtest.h>

namespace ringway::load {
namespace {

TEST(SessionPolicy, EchoRouteUsesTheConfiguredPingInterval) {
  SessionPolicy p = SessionPolicy::for_echo_route(30000);
  EXPECT_EQ(p.dead_after_ms, 90000u);
  EXPECT_EQ(p.reset_after_ms, 90000u);
}

TEST(SessionPolicy, HelloPolicyWins) {
  SessionPolicy p = SessionPolicy::from_hello(1000, 5000);
  EXPECT_EQ(p.dead_after_ms, 3000u);
  EXPECT_EQ(p.reset_after_ms, 5000u);
  // No idle timeout in the hello: the server's default of three intervals.
  EXPECT_EQ(SessionPolicy::from_hello(1000, 0).reset_after_ms, 3000u);
}

TEST(SessionPolicy, DeadOnlyAfterThreeIntervalsOfSilence) {
  SessionPolicy p = SessionPolicy::from_hello(200, 600);
  EXPECT_FALSE(p.is_dead(1000, 1599));
  EXPECT_TRUE(p.is_dead(1000, 1600));
  EXPECT_EQ(p.next_check_ms(1000), 1600u);
}

TEST(SessionPolicy, ServerWithoutPingsNeverMakesADeadConnection) {
  SessionPolicy p = SessionPolicy::from_hello(0, 0);
  EXPECT_EQ(p.dead_after_ms, 0u);
  EXPECT_FALSE(p.is_dead(0, ~uint64_t{0} / 2));
}

TEST(SessionPolicy, ReconnectLineSaysHowLongTheSessionLasted) {
  EXPECT_EQ(reconnect_line(7, true, 12345, "server closed 1001 server shutting down", 180, 1),
            "ringway-load: conn 7: session lasted 12.345 s (server closed 1001 server shutting "
            "down); reconnecting in 180 ms (attempt 1)");
  EXPECT_EQ(reconnect_line(3, false, 0, "connect: Connection refused", 150, 2),
            "ringway-load: conn 3: attempt failed, no session (0.000 s) (connect: Connection "
            "refused); reconnecting in 150 ms (attempt 2)");
}

}  // namespace
}  // namespace ringway::load
