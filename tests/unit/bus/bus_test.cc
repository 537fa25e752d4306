// The bus's pure parts: URLs, cluster key slots, and partitions that every node computes alike.
#include <gtest/gtest.h>

#include "bus/bus.h"
#include "bus/slots.h"
#include "bus/wire.h"

namespace ringway::bus {
namespace {

TEST(BusUrl, OneServer) {
  Options o;
  std::string err;
  ASSERT_TRUE(parse_bus_url("redis://127.0.0.1:6390", o, err)) << err;
  EXPECT_FALSE(o.cluster);
  ASSERT_EQ(o.seeds.size(), 1u);
  EXPECT_EQ(o.seeds[0].host, "127.0.0.1");
  EXPECT_EQ(o.seeds[0].port, 6390);
  EXPECT_TRUE(o.password.empty());
  ASSERT_TRUE(parse_bus_url("redis://localhost", o, err)) << err;
  EXPECT_EQ(o.seeds[0].port, 6379);
  ASSERT_TRUE(parse_bus_url("redis://[::1]:7000", o, err)) << err;
  EXPECT_EQ(o.seeds[0].host, "::1");
  EXPECT_EQ(o.seeds[0].port, 7000);
}

TEST(BusUrl, ClusterSeeds) {
  Options o;
  std::string err;
  ASSERT_TRUE(parse_bus_url("redis+cluster://a:1,b:2,c:3", o, err)) << err;
  EXPECT_TRUE(o.cluster);
  ASSERT_EQ(o.seeds.size(), 3u);
  EXPECT_EQ(o.seeds[2].host, "c");
  EXPECT_EQ(o.seeds[2].port, 3);
}

TEST(BusUrl, UserAndPasswordPercentDecodedAndRedacted) {
  Options o;
  std::string err;
  ASSERT_TRUE(parse_bus_url("redis://:s%40cr%3At@h:1", o, err)) << err;
  EXPECT_EQ(o.user, "");
  EXPECT_EQ(o.password, "s@cr:t");
  EXPECT_EQ(o.seeds[0].host, "h");
  ASSERT_TRUE(parse_bus_url("redis+cluster://gw:pw@a:1,b:2", o, err)) << err;
  EXPECT_EQ(o.user, "gw");
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.seeds.size(), 2u);
  EXPECT_EQ(redacted_bus_url("redis://gw:secret@h:1"), "redis://gw:***@h:1");
  EXPECT_EQ(redacted_bus_url("redis://:secret@h:1"), "redis://:***@h:1");
  EXPECT_EQ(redacted_bus_url("redis://h:1"), "redis://h:1");
  for (const char* bad : {"redis://user@h:1", "redis://:@h:1", "redis://:%4@h:1",
                          "redis://:%zz@h:1"}) {
    EXPECT_FALSE(parse_bus_url(bad, o, err)) << bad;
    EXPECT_EQ(err.find("secret"), std::string::npos);
  }
  EXPECT_FALSE(parse_bus_url("http://u:secret@h:1", o, err));
  EXPECT_EQ(err.find("secret"), std::string::npos) << err;
}

TEST(BusUrl, RefusedWithAReason) {
  Options o;
  for (const char* bad : {"http://x:1", "redis://", "redis://h:0", "redis://h:70000",
                          "redis://h:12x", "redis://a:1,b:2", "redis+cluster://a:1,,b:2"}) {
    std::string err;
    EXPECT_FALSE(parse_bus_url(bad, o, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Slots, HashTagsAndTheSpecVector) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("foo"), 12182u);  // the cluster specification's examples
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") % kClusterSlots);  // empty tag: whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  // A partition's channel and its channels' keys share one slot (one script, one shard).
  EXPECT_EQ(key_slot("rw:{p7}"), key_slot("rw:{p7}:o:chat"));
  EXPECT_EQ(key_slot("rw:{p7}:w:chat"), key_slot("p7"));
}

TEST(Partitions, TheSameOnEveryNode) {
  Options a, b;
  a.partitions = b.partitions = 16;
  a.workers = 1;
  b.workers = 4;
  Bus x(a), y(b);
  unsigned seen = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string ch = "chan." + std::to_string(i);
    EXPECT_EQ(x.partition_of(ch), y.partition_of(ch));
    EXPECT_LT(x.partition_of(ch), 16u);
    seen |= 1u << x.partition_of(ch);
  }
  EXPECT_EQ(seen, 0xFFFFu);  // every partition used
}

}  // namespace
}  // namespace ringway::bus

namespace ringway::bus {
namespace {

TEST(Wire, WellFormedMessagesParse) {
  Message m;
  ASSERT_TRUE(parse_message("ep-1 42 chat.1\nalice\n{\"a\":[1,\"é\"]}", 1024, m));
  EXPECT_EQ(m.epoch, "ep-1");
  EXPECT_EQ(m.offset, 42u);
  EXPECT_EQ(m.channel, "chat.1");
  EXPECT_EQ(m.from, "alice");
  EXPECT_EQ(m.data, "{\"a\":[1,\"é\"]}");
  // Newlines inside the data are the data's.
  ASSERT_TRUE(parse_message("e 1 c\nf\n[1,\n2]", 1024, m));
  EXPECT_EQ(m.data, "[1,\n2]");
  EXPECT_EQ(format_body("c", "f", "[1,\n2]"), "c\nf\n[1,\n2]");
}

TEST(Wire, AnythingElseIsRefused) {
  Message m;
  for (const char* bad : {
           "", "ctl 5", "e 1 c\nf", " 1 c\nf\n1", "e  c\nf\n1", "e 0 c\nf\n1", "e -1 c\nf\n1",
           "e 1x c\nf\n1", "e 1 bad channel\nf\n1", "e 1 c\n\n1", "e 1 c\nf\x01\n1",
           "e 1 c\nf\nnot json", "e 1 c\nf\n{\"a\":1", "e 1 c\nf\n1 2", "e 1 c\nf\n\"\xff\"",
           "e\x01 1 c\nf\n1"}) {
    EXPECT_FALSE(parse_message(bad, 1024, m)) << bad;
  }
  EXPECT_FALSE(parse_message("e 1 c\nf\n\"" + std::string(2000, 'x') + "\"", 1024, m));
  EXPECT_FALSE(parse_message(std::string(65, 'e') + " 1 c\nf\n1", 1024, m));
}

}  // namespace
}  // namespace ringway::bus
