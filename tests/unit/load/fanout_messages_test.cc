// fanout mode's wire formats against the gateway's own serialisers, and the gap accounting.
#include "load/fanout_messages.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "gateway/json_writer.h"

namespace ringway::load {
namespace {

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& text) {
  simdjson::dom::element doc;
  EXPECT_EQ(p.parse(text).get(doc), simdjson::SUCCESS) << text;
  return doc;
}

TEST(FanoutMessages, DataIsPaddedToTheSizeAndValidJson) {
  simdjson::dom::parser p;
  for (size_t size : {0, 10, 26, 40, 100, 1000}) {
    std::string data;
    append_fanout_data(data, 1234567890123, size);
    if (size >= 26) {
      EXPECT_EQ(data.size(), size) << data;
    }
    auto doc = parse(p, data);
    uint64_t t = 0;
    ASSERT_EQ(doc["t"].get(t), simdjson::SUCCESS);
    EXPECT_EQ(t, 1234567890123u);
    std::string_view pad;
    ASSERT_EQ(doc["p"].get(pad), simdjson::SUCCESS);
    EXPECT_EQ(pad.find_first_not_of('x'), std::string_view::npos);
  }
  std::string small;
  append_fanout_data(small, 7, 0);
  EXPECT_EQ(small, R"({"t":7,"p":""})");
}

TEST(FanoutMessages, PublishAndSubscribeRequests) {
  simdjson::dom::parser p;
  std::string req;
  append_publish_request(req, 42, "bench.fanout", 99, 100);
  auto doc = parse(p, req);
  std::string_view s;
  ASSERT_EQ(doc["type"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "req");
  ASSERT_EQ(doc["id"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "42");
  ASSERT_EQ(doc["method"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "publish");
  ASSERT_EQ(doc["params"]["channel"].get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "bench.fanout");
  uint64_t t = 0;
  ASSERT_EQ(doc["params"]["data"]["t"].get(t), simdjson::SUCCESS);
  EXPECT_EQ(t, 99u);
  // The data is the configured size.
  std::string data;
  append_fanout_data(data, 99, 100);
  EXPECT_NE(req.find(R"("data":)" + data + "}}"), std::string::npos) << req;

  std::string sub;
  append_subscribe_request(sub, "s1", "bench.fanout");
  EXPECT_EQ(sub,
            R"({"type":"req","id":"s1","method":"subscribe","params":{"channel":"bench.fanout"}})");
}

TEST(FanoutMessages, ReadsTheGatewaysMessageEvent) {
  // The event exactly as the server serialises it, from a device and from a service.
  std::string data;
  append_fanout_data(data, 5555000111222, 100);
  for (std::string from : {std::string(64, 'a'), std::string("bench-publisher")}) {
    std::string ev;
    gateway::append_message_event(ev, "bench.fanout", from, 17, data);
    ASSERT_EQ(classify(ev), Incoming::kMessageEvent) << ev;
    uint64_t offset = 0, t = 0;
    ASSERT_TRUE(parse_delivery(ev, offset, t)) << ev;
    EXPECT_EQ(offset, 17u);
    EXPECT_EQ(t, 5555000111222u);
  }
  // Data published by someone else: no "t" to read.
  std::string other;
  gateway::append_message_event(other, "bench.fanout", "x", 3, R"({"offset":9})");
  uint64_t offset = 0, t = 0;
  EXPECT_FALSE(parse_delivery(other, offset, t));
  std::string null_data;
  gateway::append_message_event(null_data, "c", "x", 3, "");
  EXPECT_FALSE(parse_delivery(null_data, offset, t));
}

TEST(FanoutMessages, ClassifiesResponsesAndOtherEvents) {
  EXPECT_EQ(classify(gateway::ok_response("s1", R"({"epoch":"e","offset":0})")),
            Incoming::kResponse);
  std::string ev;
  gateway::append_event(ev, "connect.challenge", R"({"nonce":"n","ts":1})");
  EXPECT_EQ(classify(ev), Incoming::kOtherEvent);
  EXPECT_EQ(classify(R"({"t":1,"seq":2,"pub":0,"p":""})"), Incoming::kUnknown);
  EXPECT_EQ(classify(""), Incoming::kUnknown);
}

TEST(FanoutMessages, ParsesResponses) {
  auto sub = parse_fanout_response(gateway::ok_response("s1", R"({"epoch":"ab12","offset":41})"));
  ASSERT_TRUE(sub.parsed);
  EXPECT_TRUE(sub.ok);
  EXPECT_EQ(sub.id, "s1");
  EXPECT_EQ(sub.epoch, "ab12");
  EXPECT_EQ(sub.offset, 41u);

  auto pub = parse_fanout_response(gateway::ok_response("7", R"({"delivered":1000,"offset":8})"));
  ASSERT_TRUE(pub.parsed && pub.ok);
  EXPECT_EQ(pub.id, "7");
  EXPECT_EQ(pub.delivered, 1000u);
  EXPECT_EQ(pub.offset, 8u);

  auto busy = parse_fanout_response(
      gateway::error_response("8", "UNAVAILABLE", "the channel's sequencer is busy", true, 50));
  ASSERT_TRUE(busy.parsed);
  EXPECT_FALSE(busy.ok);
  EXPECT_EQ(busy.code, "UNAVAILABLE");
  EXPECT_EQ(busy.retry_after_ms, 50u);

  auto denied =
      parse_fanout_response(gateway::error_response("9", "SCOPE_DENIED", "no", false, 0));
  ASSERT_TRUE(denied.parsed);
  EXPECT_EQ(denied.code, "SCOPE_DENIED");
  EXPECT_EQ(denied.retry_after_ms, 0u);

  EXPECT_FALSE(parse_fanout_response("not json").parsed);
  EXPECT_FALSE(parse_fanout_response(R"({"type":"event","event":"message"})").parsed);
  EXPECT_FALSE(parse_fanout_response(R"({"type":"res","id":"1","ok":false})").parsed);
}

TEST(FanoutMessages, PeerMessagesRoundTrip) {
  std::string m;
  append_peer_message(m, 123456789, 77, 3, 100);
  EXPECT_EQ(m.size(), 100u);
  uint64_t t = 0, seq = 0;
  uint32_t pub = 0;
  ASSERT_TRUE(parse_peer_message(m, t, seq, pub)) << m;
  EXPECT_EQ(t, 123456789u);
  EXPECT_EQ(seq, 77u);
  EXPECT_EQ(pub, 3u);
  EXPECT_FALSE(parse_peer_message(R"({"t":1,"seq":2})", t, seq, pub));
  EXPECT_FALSE(parse_peer_message(R"({"t":"1","seq":2,"pub":0})", t, seq, pub));
  EXPECT_FALSE(parse_peer_message(R"({"t":99999999999999999999,"seq":2,"pub":0})", t, seq, pub));
}

TEST(SeqTracker, CountsGapsAndRejectsRepeatsAndStepsBack) {
  SeqTracker s;
  EXPECT_FALSE(s.known());
  s.expect(5);  // subscribed at offset 4
  EXPECT_EQ(s.on(5).lost, 0u);
  EXPECT_EQ(s.on(6).lost, 0u);
  auto gap = s.on(10);  // 7, 8, 9 missed
  EXPECT_EQ(gap.lost, 3u);
  EXPECT_FALSE(gap.backwards);
  EXPECT_EQ(s.next(), 11u);
  auto repeat = s.on(10);
  EXPECT_TRUE(repeat.backwards);
  EXPECT_EQ(repeat.lost, 0u);
  auto back = s.on(2);
  EXPECT_TRUE(back.backwards);
  EXPECT_EQ(s.next(), 11u);  // a bad number does not move the expectation
  EXPECT_EQ(s.on(11).lost, 0u);
  EXPECT_FALSE(s.on(12).backwards);
}

TEST(SeqTracker, WithoutAnExpectationTheFirstNumberIsTheBaseline) {
  SeqTracker s;
  auto first = s.on(1000);
  EXPECT_EQ(first.lost, 0u);
  EXPECT_FALSE(first.backwards);
  EXPECT_EQ(s.on(1001).lost, 0u);
  s.forget();
  EXPECT_EQ(s.on(5).lost, 0u);  // a new session: no loss counted across it
  EXPECT_EQ(s.on(7).lost, 1u);
  s.expect(0);
  EXPECT_EQ(s.on(0).lost, 0u);
}

}  // namespace
}  // namespace ringway::load
