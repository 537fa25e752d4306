// json_writer: exact output of every frame, string escaping, and that everything written reads
// back through simdjson (and parse_request) with the same values.
#include "gateway/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/protocol_json.h"

namespace ringway::gateway {
namespace {

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

// Parses `json` as a document whose only content is a string and returns it.
bool read_back_string(const std::string& json, std::string& out) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  std::string_view v;
  if (parser.parse(padded).get(v) != simdjson::SUCCESS) return false;
  out.assign(v);
  return true;
}

bool reference_valid_utf8(std::string_view s) {
  return simdjson::validate_utf8(s.data(), s.size());
}

TEST(JsonString, Escapes) {
  EXPECT_EQ(json_quoted(""), R"("")");
  EXPECT_EQ(json_quoted("plain text"), R"("plain text")");
  EXPECT_EQ(json_quoted("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(json_quoted(std::string_view("\0", 1)), R"("\u0000")");
  EXPECT_EQ(json_quoted("\n\r\t\b\f"), R"("\u000a\u000d\u0009\u0008\u000c")");
  EXPECT_EQ(json_quoted("\x1f\x7f"), "\"\\u001f\x7f\"");  // DEL needs no escape
  for (int c = 0; c < 0x20; ++c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\u%04x", c);
    EXPECT_EQ(json_quoted(std::string(1, char(c))), "\"" + std::string(buf) + "\"") << c;
  }
}

TEST(JsonString, Utf8PassesThrough) {
  for (std::string_view s : {"\xc2\x80", "\xc3\xa9", "\xdf\xbf", "\xe0\xa0\x80", "\xe2\x82\xac",
                             "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                             "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xe2\x80\xa8"}) {
    EXPECT_EQ(json_quoted(s), "\"" + std::string(s) + "\"");
  }
}

TEST(JsonString, InvalidUtf8BecomesReplacement) {
  struct Case {
    std::string_view in, out;
  };
  for (const Case& k : {
           Case{"\x80", R"("\ufffd")"},                                // lone continuation
           Case{"a\xc0\x80z", R"("a\ufffd\ufffdz")"},                  // overlong NUL
           Case{"\xc1\xbf", R"("\ufffd\ufffd")"},                      // overlong
           Case{"\xe0\x9f\xbf", R"("\ufffd\ufffd\ufffd")"},            // overlong 3-byte
           Case{"\xed\xa0\x80", R"("\ufffd\ufffd\ufffd")"},            // surrogate D800
           Case{"\xf0\x8f\xbf\xbf", R"("\ufffd\ufffd\ufffd\ufffd")"},  // overlong 4-byte
           Case{"\xf4\x90\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},  // above U+10FFFF
           Case{"\xf5\x80\x80\x80", R"("\ufffd\ufffd\ufffd\ufffd")"},
           Case{"\xff", R"("\ufffd")"},
           Case{"\xe2\x82", R"("\ufffd\ufffd")"},    // truncated at the end
           Case{"\xe2\x82x", R"("\ufffd\ufffdx")"},  // truncated in the middle
           Case{"\xc3", R"("\ufffd")"},
           Case{"\xf0\x9f\x98", R"("\ufffd\ufffd\ufffd")"},
       }) {
    EXPECT_EQ(json_quoted(k.in), k.out);
  }
}

TEST(JsonString, EveryByteReadsBack) {
  for (int c = 0; c < 256; ++c) {
    std::string in(1, char(c));
    std::string json = json_quoted(in), back;
    ASSERT_TRUE(read_back_string(json, back)) << c;
    EXPECT_EQ(back, c < 0x80 ? in : "\xef\xbf\xbd") << c;
  }
}

TEST(JsonString, RandomStringsRoundTrip) {
  std::mt19937 rng(1234);
  // Pieces that mix every class of input.
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           "\"",
                                           "\\",
                                           "/",
                                           "\n",
                                           std::string(1, '\0'),
                                           "\x1f",
                                           "\x7f",
                                           "\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x98\x80",
                                           "\x80",
                                           "\xed\xa0\x80",
                                           "\xff",
                                           "\xe2\x82",
                                           " ",
                                           "\\u0041"};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string in;
    size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) in += pieces[rng() % pieces.size()];
    std::string json = json_quoted(in), back;
    ASSERT_TRUE(reference_valid_utf8(json)) << iter;
    ASSERT_TRUE(read_back_string(json, back)) << iter;
    if (reference_valid_utf8(in)) {
      EXPECT_EQ(back, in) << iter;
    }
  }
  for (int iter = 0; iter < 3000; ++iter) {
    std::string in(rng() % 64, '\0');
    for (char& ch : in) ch = char(rng());
    std::string json = json_quoted(in), back;
    ASSERT_TRUE(reference_valid_utf8(json)) << iter;
    ASSERT_TRUE(read_back_string(json, back)) << iter;
    if (reference_valid_utf8(in)) {
      EXPECT_EQ(back, in) << iter;
    }
  }
}

TEST(JsonUint, Values) {
  std::string out;
  append_json_uint(out, 0);
  out += ',';
  append_json_uint(out, 42);
  out += ',';
  append_json_uint(out, UINT64_MAX);
  EXPECT_EQ(out, "0,42,18446744073709551615");
}

TEST(Frames, Challenge) {
  EXPECT_EQ(
      challenge_event("ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM", 1767225600000),
      R"({"type":"event","event":"connect.challenge","payload":{"nonce":"ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM","ts":1767225600000}})");
  std::string out = "prefix";
  append_challenge_event(out, "n", 0);
  EXPECT_EQ(out,
            R"(prefix{"type":"event","event":"connect.challenge","payload":{"nonce":"n","ts":0}})");
}

TEST(Frames, HelloDevice) {
  std::vector<std::string> scopes = {"subscribe:chat.*", "send"};
  HelloInfo h{.server_version = "0.1.0",
              .conn_id = "w0-17",
              .role = "device",
              .device_id = "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8",
              .scopes = scopes,
              .max_payload = 1048576,
              .max_buffered = 4194304,
              .ping_interval_ms = 30000,
              .idle_timeout_ms = 90000};
  EXPECT_EQ(
      hello_response("1", h),
      R"({"type":"res","id":"1","ok":true,"payload":{"type":"hello","protocol":1,)"
      R"("server":{"name":"ringway","version":"0.1.0","connId":"w0-17"},)"
      R"("session":{"role":"device","deviceId":"65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8",)"
      R"("scopes":["subscribe:chat.*","send"]},)"
      R"("policy":{"maxPayload":1048576,"maxBufferedBytes":4194304,"pingIntervalMs":30000,"idleTimeoutMs":90000}}})");
}

TEST(Frames, HelloServiceHasNoDeviceIdAndEscapes) {
  HelloInfo h{.server_version = "v\"1",
              .conn_id = "c\\1",
              .role = "service",
              .device_id = "",
              .scopes = {},
              .max_payload = 0,
              .max_buffered = 1,
              .ping_interval_ms = 0,
              .idle_timeout_ms = UINT64_MAX};
  std::string json = hello_response("id \"q\"", h);
  EXPECT_EQ(
      json,
      R"({"type":"res","id":"id \"q\"","ok":true,"payload":{"type":"hello","protocol":1,)"
      R"("server":{"name":"ringway","version":"v\"1","connId":"c\\1"},)"
      R"("session":{"role":"service","scopes":[]},)"
      R"("policy":{"maxPayload":0,"maxBufferedBytes":1,"pingIntervalMs":0,"idleTimeoutMs":18446744073709551615}}})");
  // Read back through simdjson.
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(padded).get(root), simdjson::SUCCESS);
  std::string_view v;
  ASSERT_EQ(root.at_pointer("/id").get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "id \"q\"");
  ASSERT_EQ(root.at_pointer("/payload/server/connId").get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "c\\1");
  simdjson::dom::element missing;
  EXPECT_NE(root.at_pointer("/payload/session/deviceId").get(missing), simdjson::SUCCESS);
  uint64_t n = 0;
  ASSERT_EQ(root.at_pointer("/payload/policy/idleTimeoutMs").get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, UINT64_MAX);
}

TEST(Frames, ErrorResponse) {
  EXPECT_EQ(
      error_response("1", "INVALID_REQUEST",
                     "params.device.publicKey: expected base64url of 32 bytes", false, 500),
      R"({"type":"res","id":"1","ok":false,"error":{"code":"INVALID_REQUEST",)"
      R"("message":"params.device.publicKey: expected base64url of 32 bytes","retryable":false}})");
  EXPECT_EQ(error_response("x", "UNAVAILABLE", "auth queue full", true, 2500),
            R"({"type":"res","id":"x","ok":false,"error":{"code":"UNAVAILABLE",)"
            R"("message":"auth queue full","retryable":true,"retryAfterMs":2500}})");
  // Unknown id.
  EXPECT_EQ(error_response("", "INVALID_REQUEST", "frame: malformed JSON", false, 0),
            R"({"type":"res","id":"","ok":false,"error":{"code":"INVALID_REQUEST",)"
            R"("message":"frame: malformed JSON","retryable":false}})");
  // A message with quotes and a control character stays valid JSON.
  std::string json = error_response("1", "SCOPE_DENIED", "needs \"publish:a\"\n", false, 0);
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(padded).get(root), simdjson::SUCCESS);
  std::string_view msg;
  ASSERT_EQ(root.at_pointer("/error/message").get(msg), simdjson::SUCCESS);
  EXPECT_EQ(msg, "needs \"publish:a\"\n");
}

TEST(Frames, OkResponse) {
  EXPECT_EQ(ok_response("5", R"({"ts":123})"),
            R"({"type":"res","id":"5","ok":true,"payload":{"ts":123}})");
  EXPECT_EQ(ok_response("5", "{}"), R"({"type":"res","id":"5","ok":true,"payload":{}})");
  EXPECT_EQ(ok_response("5", ""), R"({"type":"res","id":"5","ok":true,"payload":{}})");
  std::string out;
  append_ok_response(out, "a", R"({"delivered":3})");
  append_ok_response(out, "b", "{}");
  EXPECT_EQ(out, R"({"type":"res","id":"a","ok":true,"payload":{"delivered":3}})"
                 R"({"type":"res","id":"b","ok":true,"payload":{}})");
}

TEST(Frames, Event) {
  EXPECT_EQ(event("tick", "{}"), R"({"type":"event","event":"tick","payload":{}})");
  EXPECT_EQ(event("tick", ""), R"({"type":"event","event":"tick","payload":{}})");
  EXPECT_EQ(event("t\"", "{}"), R"({"type":"event","event":"t\"","payload":{}})");
}

TEST(Frames, MessageEvent) {
  std::string out;
  append_message_event(out, "chat.1", "svc", 7, R"({"a":[1,2]})");
  EXPECT_EQ(out, R"({"type":"event","event":"message","payload":{"channel":"chat.1","from":"svc",)"
                 R"("offset":7,"data":{"a":[1,2]}}})");
  EXPECT_LE(out.size(), message_event_size_bound("chat.1", "svc", R"({"a":[1,2]})"));
  out.clear();
  append_message_event(out, "c", "q\"", UINT64_MAX, "\"x\"");
  EXPECT_EQ(out, R"({"type":"event","event":"message","payload":{"channel":"c","from":"q\"",)"
                 R"("offset":18446744073709551615,"data":"x"}})");
}

TEST(Frames, WrittenRequestReadsBackThroughParseRequest) {
  // A request frame assembled with the writer's escaping parses back to the same values,
  // including ids that need escapes.
  for (std::string_view id : {"1", "a\"b", "back\\slash", " !~", "{}[]:,"}) {
    std::string frame = R"({"type":"req","id":)";
    append_json_string(frame, id);
    frame += R"(,"method":)";
    append_json_string(frame, "publish");
    frame += R"(,"params":{"channel":)";
    append_json_string(frame, "chat.1");
    frame += R"(,"data":)";
    append_json_string(frame, "line\nquote\" \xe2\x82\xac \x01");
    frame += "}}";
    RequestParse r = parse_request(frame);
    ASSERT_TRUE(r.ok) << frame << " -> " << r.error.message;
    EXPECT_EQ(r.request.id, id);
    EXPECT_EQ(r.request.method, "publish");
    EXPECT_EQ(r.request.params.channel, "chat.1");
    // The data text is what the writer produced, and reads back to the original string.
    simdjson::dom::parser parser;
    simdjson::padded_string padded(r.request.params.data_json);
    std::string_view data;
    ASSERT_EQ(parser.parse(padded).get(data), simdjson::SUCCESS);
    EXPECT_EQ(data, "line\nquote\" \xe2\x82\xac \x01");
  }
}

TEST(Frames, ResponsesCarryParsedIds) {
  // The id parse_request recovers goes into error_response and comes back unchanged.
  RequestParse r = parse_request(R"({"type":"req","id":"q\"\\","method":"m","params":[]})");
  ASSERT_FALSE(r.ok);
  ASSERT_EQ(r.request_id, "q\"\\");
  std::string json = error_response(r.request_id, r.error.code, r.error.message, false, 0);
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(padded).get(root), simdjson::SUCCESS);
  std::string_view id, code;
  ASSERT_EQ(root["id"].get(id), simdjson::SUCCESS);
  ASSERT_EQ(root.at_pointer("/error/code").get(code), simdjson::SUCCESS);
  EXPECT_EQ(id, "q\"\\");
  EXPECT_EQ(code, "INVALID_REQUEST");
}

}  // namespace
}  // namespace ringway::gateway
