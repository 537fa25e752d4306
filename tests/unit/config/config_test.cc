#include "ringway/config.h"

#include <gtest/gtest.h>

namespace ringway {
namespace {

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250u);
  EXPECT_EQ(parse_duration_ms("10s"), 10000u);
  EXPECT_EQ(parse_duration_ms("2m"), 120000u);
  EXPECT_EQ(parse_duration_ms("1h"), 3600000u);
  EXPECT_EQ(parse_duration_ms("0"), 0u);
}

TEST(Duration, RejectsAmbiguousOrBad) {
  for (const char* bad : {"", "10", "s", "10 s", "-1s", "1.5s", "10sec", "99999999999999999999h"})
    EXPECT_FALSE(parse_duration_ms(bad)) << bad;
}

TEST(Size, ParsesUnits) {
  EXPECT_EQ(parse_size("65536"), 65536u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("1MiB"), 1u << 20);
  EXPECT_EQ(parse_size("4M"), 4u << 20);
  EXPECT_EQ(parse_size("1GiB"), 1u << 30);
  for (const char* bad : {"", "MiB", "1TiB", "-5", "1.5MiB"}) EXPECT_FALSE(parse_size(bad)) << bad;
}

TEST(Config, DefaultsAreValidAndIdleIsThreePings) {
  Config c;
  EXPECT_EQ(c.validate(), "");
  EXPECT_EQ(c.effective_idle_timeout_ms(), 3 * c.ping_interval_ms);
  c.ping_interval_ms = 0;
  c.idle_timeout_ms = 0;
  EXPECT_EQ(c.validate(), "");  // both off is a legal (keepalive-only) deployment
}

TEST(Config, RejectsInconsistentSettings) {
  Config c;
  c.max_buffered = c.max_message_size;
  EXPECT_NE(c.validate(), "");
  c = Config{};
  c.ping_interval_ms = 1000;
  c.idle_timeout_ms = 1000;
  EXPECT_NE(c.validate(), "");
  c = Config{};
  c.recv_buffers = 1000;
  EXPECT_NE(c.validate(), "");
  c = Config{};
  c.close_timeout_ms = 0;
  EXPECT_NE(c.validate(), "");
}

}  // namespace
}  // namespace ringway
