// parse_request (frames after the hello) and the base64url helpers.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gateway/protocol_json.h"

namespace ringway::gateway {
namespace {

void expect_invalid(std::string_view frame, std::string_view message,
                    std::string_view request_id = "") {
  RequestParse r = parse_request(frame);
  EXPECT_FALSE(r.ok) << frame;
  EXPECT_STREQ(r.error.code, "INVALID_REQUEST") << frame;
  EXPECT_EQ(r.error.message, message) << frame;
  EXPECT_EQ(r.request_id, request_id) << frame;
}

TEST(ParseRequest, Subscribe) {
  RequestParse r = parse_request(
      R"({"type":"req","id":"7","method":"subscribe","params":{"channel":"chat.1"}})");
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.request.id, "7");
  EXPECT_EQ(r.request_id, "7");
  EXPECT_EQ(r.request.method, "subscribe");
  EXPECT_TRUE(r.request.params.has_channel);
  EXPECT_EQ(r.request.params.channel, "chat.1");
  EXPECT_FALSE(r.request.params.has_to);
  EXPECT_FALSE(r.request.params.has_data);
}

TEST(ParseRequest, ParamsAbsentHasNoRouteMembers) {
  RequestParse r = parse_request(R"({"type":"req","id":"p","method":"ping"})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.request.params.has_channel || r.request.params.has_to ||
               r.request.params.has_data);
}

TEST(ParseRequest, DataRawTextAsSent) {
  struct Case {
    std::string frame, data;
  };
  const std::string data = R"({"s":"} ] \" \\ {","n":[1,2.5e3,-0,{"":[]}],"t":true,"u":null})";
  const std::string params = R"({ "channel" : "a" , "data" : )" + data + " }";
  for (const Case& k : {
           Case{R"({"type":"req","id":"1","method":"publish","params":)" + params + "}", data},
           Case{R"({"params":)" + params + R"(,"type":"req","id":"1","method":"publish"})", data},
           Case{"{\n\"id\":\"1\",\t\"params\"\r\n:\n" + params +
                    "\n,\"method\":\"publish\",\"type\":\"req\"}\n",
                data},
           Case{R"({"type":"req","id":"1","x":"\"data\":1","method":"m","params":{"data":2}})",
                "2"},
           Case{R"({"type":"req","id":"1","method":"m","params":{"d\u0061ta":"\\"}})",
                R"("\\")"},
           Case{R"({"type":"req","id":"1","method":"m","params":{"data":"é€😀"},"z":0})",
                R"("é€😀")"},
           Case{R"({"type":"req","id":"1","method":"m","params":{"data":null}})", "null"},
       }) {
    RequestParse r = parse_request(k.frame);
    ASSERT_TRUE(r.ok) << k.frame << " -> " << r.error.message;
    EXPECT_TRUE(r.request.params.has_data);
    EXPECT_EQ(r.request.params.data_json, k.data) << k.frame;
  }
}

TEST(ParseRequest, RouteMembersAreTypeChecked) {
  expect_invalid(R"({"type":"req","id":"5","method":"m","params":{"channel":1}})",
                 "params.channel: expected string", "5");
  expect_invalid(R"({"type":"req","id":"5","method":"m","params":{"to":{}}})",
                 "params.to: expected string", "5");
  RequestParse r = parse_request(
      R"({"type":"req","id":"5","method":"send","params":{"to":"ab","data":[1]}})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.params.to, "ab");
  EXPECT_EQ(r.request.params.data_json, "[1]");
}

TEST(ParseRouteBody, ChannelToAndData) {
  RouteParams p;
  ProtocolError e;
  ASSERT_TRUE(parse_route_body(R"({"channel":"news","data":{"x":1}})", p, e)) << e.message;
  EXPECT_EQ(p.channel, "news");
  EXPECT_EQ(p.data_json, R"({"x":1})");
  RouteParams q;
  EXPECT_FALSE(parse_route_body("[1]", q, e));
  EXPECT_EQ(e.message, "body: expected a JSON object");
  EXPECT_FALSE(parse_route_body(R"({"channel":"a","channel":"b"})", q, e));
  EXPECT_EQ(e.message, "body: duplicate key");
  EXPECT_FALSE(parse_route_body("{", q, e));
  EXPECT_EQ(e.message, "frame: malformed JSON");
}

TEST(ParseRequest, ParamsMustBeObject) {
  for (std::string_view v : {"null", "[]", "\"{}\"", "1", "true"}) {
    expect_invalid(R"({"type":"req","id":"3","method":"m","params":)" + std::string(v) + "}",
                   "params: expected object", "3");
  }
}

TEST(ParseRequest, Type) {
  expect_invalid(R"({"id":"3","method":"m"})", "type: missing", "3");
  expect_invalid(R"({"type":"res","id":"3","method":"m"})", "type: expected \"req\"", "3");
  expect_invalid(R"({"type":1,"id":"3","method":"m"})", "type: expected string", "3");
}

TEST(ParseRequest, Id) {
  expect_invalid(R"({"type":"req","method":"m"})", "id: missing");
  expect_invalid(R"({"type":"req","id":3,"method":"m"})", "id: expected string");
  expect_invalid(R"({"type":"req","id":"","method":"m"})",
                 "id: expected 1-64 printable ASCII characters");
  std::string longest(kMaxRequestIdLength, 'i');
  expect_invalid(R"({"type":"req","id":")" + longest + R"(i","method":"m"})",
                 "id: expected 1-64 printable ASCII characters");
  RequestParse r = parse_request(R"({"type":"req","id":")" + longest + R"(","method":"m"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.id, longest);
  expect_invalid(R"({"type":"req","id":"a\tb","method":"m"})",
                 "id: expected 1-64 printable ASCII characters");
}

TEST(ParseRequest, Method) {
  expect_invalid(R"({"type":"req","id":"4"})", "method: missing", "4");
  expect_invalid(R"({"type":"req","id":"4","method":null})", "method: expected string", "4");
  expect_invalid(R"({"type":"req","id":"4","method":""})",
                 "method: expected 1-64 printable ASCII characters", "4");
  expect_invalid(R"({"type":"req","id":"4","method":"a\nb"})",
                 "method: expected 1-64 printable ASCII characters", "4");
  std::string longest(kMaxMethodLength, 'm');
  EXPECT_TRUE(parse_request(R"({"type":"req","id":"4","method":")" + longest + "\"}").ok);
  expect_invalid(R"({"type":"req","id":"4","method":")" + longest + "m\"}",
                 "method: expected 1-64 printable ASCII characters", "4");
  // Any well-formed name parses; unknown methods are the router's business.
  RequestParse r = parse_request(R"({"type":"req","id":"4","method":"connect"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.method, "connect");
}

TEST(ParseRequest, MalformedAndNonObject) {
  expect_invalid("", "frame: malformed JSON");
  expect_invalid("{\"type\":\"req\"", "frame: malformed JSON");
  expect_invalid(R"({"type":"req","id":"1","method":"m"} x)", "frame: malformed JSON");
  expect_invalid(R"({"type":"req","id":"1","method":"m"}{})", "frame: malformed JSON");
  expect_invalid(R"({"type":"req","id":"1","method":"m","params":{"a":[1 2]}})",
                 "frame: malformed JSON");
  expect_invalid("[]", "frame: expected a JSON object");
  expect_invalid("\"req\"", "frame: expected a JSON object");
  // Numbers simdjson cannot represent are refused rather than passed on.
  expect_invalid(R"({"type":"req","id":"1","method":"m","params":{"n":1e999}})",
                 "frame: malformed JSON");
}

TEST(ParseRequest, DuplicateKeys) {
  expect_invalid(R"({"type":"req","id":"1","method":"m","method":"n"})", "frame: duplicate key");
  expect_invalid(R"({"type":"req","id":"1","method":"m","params":{},"params":{}})",
                 "frame: duplicate key");
  expect_invalid(R"({"type":"req","id":"1","method":"m","params":{"channel":"a","channel":"b"}})",
                 "params: duplicate key", "1");
  expect_invalid(R"({"type":"req","id":"1","method":"m","params":{"c":"a","\u0063":"b"}})",
                 "params: duplicate key", "1");
  // Deeper objects (e.g. published data) are only required to be valid JSON.
  RequestParse r =
      parse_request(R"({"type":"req","id":"1","method":"m","params":{"data":{"a":1,"a":2}}})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.params.data_json, R"({"a":1,"a":2})");
}

TEST(ParseRequest, DeepNesting) {
  auto nested = [](size_t arrays) {
    return R"({"type":"req","id":"1","method":"m","params":{"d":)" + std::string(arrays, '[') +
           std::string(arrays, ']') + "}}";
  };
  // Top-level object and params are levels 1 and 2.
  EXPECT_TRUE(parse_request(nested(kMaxJsonDepth - 2)).ok);
  expect_invalid(nested(kMaxJsonDepth - 1), "frame: JSON nested deeper than 128 levels");
  // A megabyte of brackets.
  std::string deep(size_t(1) << 19, '[');
  deep += std::string(size_t(1) << 19, ']');
  expect_invalid(deep, "frame: JSON nested deeper than 128 levels");
}

TEST(ParseRequest, LargeFramesGrowTheParser) {
  // Sizes up past the 1 MiB default message limit, interleaved with small frames.
  for (size_t size :
       {size_t(100), size_t(5000), size_t(70000), size_t(1) << 20, size_t(3) << 20, size_t(10)}) {
    std::string data(size, 'd');
    std::string params = R"({"channel":"c","data":")" + data + "\"}";
    std::string frame = R"({"type":"req","id":"1","method":"publish","params":)" + params + "}";
    RequestParse r = parse_request(frame);
    ASSERT_TRUE(r.ok) << size;
    EXPECT_EQ(r.request.params.data_json, "\"" + data + "\"");
    EXPECT_TRUE(parse_request(R"({"type":"req","id":"2","method":"ping"})").ok);
  }
}

TEST(ParseRequest, FirstCallOnAThreadWithEmptyFrame) {
  // The per-thread buffers do not exist yet; an empty frame must still get an error.
  RequestParse request;
  ConnectParse connect;
  std::thread([&] { request = parse_request(""); }).join();
  std::thread([&] { connect = parse_connect(""); }).join();
  EXPECT_FALSE(request.ok);
  EXPECT_EQ(request.error.message, "frame: malformed JSON");
  EXPECT_FALSE(connect.ok);
  EXPECT_EQ(connect.error.message, "frame: malformed JSON");
}

TEST(ParseRequest, ThreadsParseIndependently) {
  std::vector<std::thread> threads;
  std::array<int, 4> failures{};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 2000; ++i) {
        std::string id = std::to_string(t) + "-" + std::to_string(i);
        std::string pad(size_t(i % 7) * 1000, 'x');
        std::string frame = R"({"type":"req","id":")" + id +
                            R"(","method":"publish","params":{"data":")" + pad + "\"}}";
        RequestParse r = parse_request(frame);
        if (!r.ok || r.request.id != id || r.request.params.data_json != "\"" + pad + "\"") {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, (std::array<int, 4>{}));
}

// --- base64url --------------------------------------------------------------------------------

}  // namespace
}  // namespace ringway::gateway
