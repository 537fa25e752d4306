// Requests the gateway's parser accepts, and server messages read with the fields a client
// needs (data kept byte for byte).
#include "client/protocol.h"

#include <gtest/gtest.h>

#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"

namespace ringway::client {
namespace {

TEST(Protocol, RequestsParseOnTheServer) {
  std::string out;
  append_request(out, "r7", "publish", publish_params("chat.1", R"({"a": [1, 2.50, "x"]})"));
  auto p = gateway::parse_request(out);
  ASSERT_TRUE(p.ok) << p.error.message;
  EXPECT_EQ(p.request.id, "r7");
  EXPECT_EQ(p.request.method, "publish");
  EXPECT_EQ(p.request.params.channel, "chat.1");
  EXPECT_EQ(p.request.params.data_json, R"({"a": [1, 2.50, "x"]})");

  out.clear();
  std::string to(64, 'a');
  append_request(out, "r8", "send", send_params(to, "null"));
  p = gateway::parse_request(out);
  ASSERT_TRUE(p.ok) << p.error.message;
  EXPECT_EQ(p.request.params.to, to);

  out.clear();
  append_request(out, "r9", "ping", "");
  p = gateway::parse_request(out);
  ASSERT_TRUE(p.ok) << p.error.message;
  EXPECT_EQ(p.request.method, "ping");
}

TEST(Protocol, NamesAndIds) {
  EXPECT_TRUE(is_channel_name("chat.room-1:x_y"));
  EXPECT_FALSE(is_channel_name(""));
  EXPECT_FALSE(is_channel_name("a b"));
  EXPECT_FALSE(is_channel_name(std::string(129, 'a')));
  EXPECT_TRUE(is_device_id(std::string(64, 'f')));
  EXPECT_FALSE(is_device_id(std::string(64, 'F')));
  EXPECT_FALSE(is_device_id(std::string(63, 'f')));
}

TEST(Protocol, MemberTextKeepsTheBytes) {
  std::string_view obj = R"( { "a" : 1 , "b\"c" : "x,}" , "data" : { "k" : [ 1 , "]" ] } , "z":true } )";
  EXPECT_EQ(member_text(obj, "a"), "1");
  EXPECT_EQ(member_text(obj, "data"), R"({ "k" : [ 1 , "]" ] })");
  EXPECT_EQ(member_text(obj, "z"), "true");
  EXPECT_FALSE(member_text(obj, "missing"));
  EXPECT_FALSE(member_text("[1]", "a"));
  EXPECT_FALSE(member_text("{}", "a"));
}

TEST(Protocol, ReadsDeliveriesAndResponses) {
  MessageParser parser;
  std::string ev;
  gateway::append_message_event(ev, "chat.1", "alice", 42, R"({"n":1.50,"s":"é"})");
  ServerMessage m = parser.parse(ev);
  ASSERT_EQ(m.kind, ServerMessage::Kind::kDelivery) << m.why;
  EXPECT_EQ(m.channel, "chat.1");
  EXPECT_EQ(m.from, "alice");
  EXPECT_EQ(m.offset, 42u);
  EXPECT_EQ(m.data_json, R"({"n":1.50,"s":"é"})");

  std::string res = gateway::ok_response("r3", R"({"delivered":2,"offset":9})");
  m = parser.parse(res);  // views point into res
  ASSERT_EQ(m.kind, ServerMessage::Kind::kResponse);
  EXPECT_EQ(m.id, "r3");
  EXPECT_TRUE(m.ok);
  EXPECT_EQ(m.payload_json, R"({"delivered":2,"offset":9})");
  std::string epoch;
  uint64_t offset = 0;
  EXPECT_FALSE(parse_subscribe_result(m.payload_json, epoch, offset));
  ASSERT_TRUE(parse_subscribe_result(R"({"epoch":"e1-0-2","offset":5})", epoch, offset));
  EXPECT_EQ(epoch, "e1-0-2");
  EXPECT_EQ(offset, 5u);

  m = parser.parse(gateway::error_response("r4", "UNAVAILABLE", "slow down", true, 250));
  ASSERT_EQ(m.kind, ServerMessage::Kind::kResponse);
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.code, "UNAVAILABLE");
  EXPECT_EQ(m.message, "slow down");
  EXPECT_TRUE(m.retryable);
  EXPECT_EQ(m.retry_after_ms, 250u);

  m = parser.parse(gateway::event("something.new", R"({"x":1})"));
  EXPECT_EQ(m.kind, ServerMessage::Kind::kEvent);
  EXPECT_EQ(m.event, "something.new");

  EXPECT_EQ(parser.parse("{").kind, ServerMessage::Kind::kInvalid);
  EXPECT_EQ(parser.parse(R"({"type":"res","ok":true})").kind, ServerMessage::Kind::kInvalid);
  EXPECT_EQ(parser.parse(R"({"type":"event","event":"message","payload":{"channel":"c"}})").kind,
            ServerMessage::Kind::kInvalid);
  EXPECT_TRUE(parser.is_json(" [1, {\"a\":null}] "));
  EXPECT_FALSE(parser.is_json("{\"a\":}"));
  EXPECT_FALSE(parser.is_json(""));
}

TEST(Protocol, CompactJsonFitsOnOneLine) {
  std::string out;
  append_compact_json(out, "{ \"a b\" :\n [ 1 ,\t\"x\\\" y\" ]\r\n}");
  EXPECT_EQ(out, "{\"a b\":[1,\"x\\\" y\"]}");
}

}  // namespace
}  // namespace ringway::client
