// parse_connect: the PROTOCOL.md test vector, every field's checks (missing, wrong type, bad
// encoding, lengths at and one past each limit), protocol overlap, duplicate and unknown keys,
// malformed frames, and request-id recovery for the error response.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/scopes.h"
#include "gateway/protocol_json.h"

namespace ringway::gateway {
namespace {

// Marks a field the builder leaves out.
const std::string kOmit = "\x01omit";

std::string q(std::string_view s) { return "\"" + std::string(s) + "\""; }

// PROTOCOL.md test vector.
constexpr std::string_view kVectorPublicKey = "ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ";
constexpr std::string_view kVectorDeviceId =
    "65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8";
constexpr std::string_view kVectorSignature =
    "YBL1cFo2F3BLqDoEFYlkb97k0RZA1cSdLV1mJom9pZZjM5g53e8Bxofd3Cqq1qW8nWQEyi4vB9QnPFm9IxgcBQ";
constexpr std::string_view kVectorNonce = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM";
// The same values decoded independently (Python's base64 module).
constexpr std::array<uint8_t, 32> kVectorKeyBytes = {
    0x79, 0xb5, 0x56, 0x2e, 0x8f, 0xe6, 0x54, 0xf9, 0x40, 0x78, 0xb1, 0x12, 0xe8, 0xa9, 0x8b, 0xa7,
    0x90, 0x1f, 0x85, 0x3a, 0xe6, 0x95, 0xbe, 0xd7, 0xe0, 0xe3, 0x91, 0x0b, 0xad, 0x04, 0x96, 0x64};
constexpr std::array<uint8_t, 64> kVectorSignatureBytes = {
    0x60, 0x12, 0xf5, 0x70, 0x5a, 0x36, 0x17, 0x70, 0x4b, 0xa8, 0x3a, 0x04, 0x15, 0x89, 0x64, 0x6f,
    0xde, 0xe4, 0xd1, 0x16, 0x40, 0xd5, 0xc4, 0x9d, 0x2d, 0x5d, 0x66, 0x26, 0x89, 0xbd, 0xa5, 0x96,
    0x63, 0x33, 0x98, 0x39, 0xdd, 0xef, 0x01, 0xc6, 0x87, 0xdd, 0xdc, 0x2a, 0xaa, 0xd6, 0xa5, 0xbc,
    0x9d, 0x64, 0x04, 0xca, 0x2e, 0x2f, 0x07, 0xd4, 0x27, 0x3c, 0x59, 0xbd, 0x23, 0x18, 0x1c, 0x05};

// A connect request assembled from raw JSON values; kOmit drops a member.
struct Connect {
  std::string type = q("req"), id = q("1"), method = q("connect");
  std::string min = "1", max = "1";
  std::string client;  // when set, replaces the three fields below
  std::string name = q("ringway-test"), version = q("1.2.3"), platform = q("linux");
  std::string role = q("device");
  std::string scopes = R"(["subscribe:chat.*","send"])";
  std::string device;  // when set, replaces the five fields below
  std::string device_id = q(kVectorDeviceId), public_key = q(kVectorPublicKey),
              signature = q(kVectorSignature), signed_at = "1767225600000", nonce = q(kVectorNonce);
  std::string auth = kOmit;  // raw object
  std::string params;        // when set, replaces the whole params value
  std::string params_extra;  // appended inside params (",\"k\":v")
  std::string top_extra;     // appended inside the top-level object

  static void member(std::string& out, std::string_view key, const std::string& value) {
    if (value == kOmit) return;
    if (out.back() != '{') out += ',';
    out += q(key) + ":" + value;
  }
  std::string client_json() const {
    if (!client.empty()) return client;
    std::string o = "{";
    member(o, "name", name);
    member(o, "version", version);
    member(o, "platform", platform);
    return o + "}";
  }
  std::string device_json() const {
    if (!device.empty()) return device;
    std::string o = "{";
    member(o, "id", device_id);
    member(o, "publicKey", public_key);
    member(o, "signature", signature);
    member(o, "signedAt", signed_at);
    member(o, "nonce", nonce);
    return o + "}";
  }
  std::string params_json() const {
    if (!params.empty()) return params;
    std::string o = "{";
    member(o, "minProtocol", min);
    member(o, "maxProtocol", max);
    member(o, "client", client_json());
    member(o, "role", role);
    member(o, "scopes", scopes);
    if (role == q("device")) member(o, "device", device_json());
    member(o, "auth", auth);
    return o + params_extra + "}";
  }
  std::string json() const {
    std::string o = "{";
    member(o, "type", type);
    member(o, "id", id);
    member(o, "method", method);
    member(o, "params", params_json());
    return o + top_extra + "}";
  }
};

Connect service_connect() {
  Connect c;
  c.role = q("service");
  c.auth = R"({"token":"svc-token-123"})";
  return c;
}

// Expects an INVALID_REQUEST whose message starts with `path` + ':'.
void expect_invalid(const Connect& c, std::string_view path) {
  std::string frame = c.json();
  ConnectParse r = parse_connect(frame);
  EXPECT_FALSE(r.ok) << frame;
  EXPECT_STREQ(r.error.code, "INVALID_REQUEST") << frame;
  EXPECT_EQ(r.error.message.substr(0, path.size() + 1), std::string(path) + ":")
      << frame << " -> " << r.error.message;
}

void expect_ok(const Connect& c) {
  std::string frame = c.json();
  ConnectParse r = parse_connect(frame);
  EXPECT_TRUE(r.ok) << frame << " -> " << r.error.message;
}

TEST(ParseConnect, TestVectorParsesToExactValues) {
  Connect c;
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  const ConnectRequest& req = r.request;
  EXPECT_EQ(req.id, "1");
  EXPECT_EQ(r.request_id, "1");
  EXPECT_EQ(req.min_protocol, 1);
  EXPECT_EQ(req.max_protocol, 1);
  EXPECT_EQ(req.client_name, "ringway-test");
  EXPECT_EQ(req.client_version, "1.2.3");
  EXPECT_EQ(req.client_platform, "linux");
  EXPECT_EQ(req.role, Role::kDevice);
  EXPECT_EQ(req.scopes, (std::vector<std::string>{"subscribe:chat.*", "send"}));
  EXPECT_EQ(req.device_id, kVectorDeviceId);
  EXPECT_EQ(req.public_key, kVectorKeyBytes);
  EXPECT_EQ(req.signature, kVectorSignatureBytes);
  EXPECT_EQ(req.signed_at_ms, 1767225600000u);
  EXPECT_EQ(req.nonce, kVectorNonce);
  EXPECT_TRUE(req.token.empty());
}

TEST(ParseConnect, LiteralFrameFromProtocolDoc) {
  // As a client would send it: whitespace, newlines and key order of PROTOCOL.md.
  std::string frame = R"({"type":"req","id":"1","method":"connect","params":{
  "minProtocol":1,"maxProtocol":1,
  "client":{"name":"cli","version":"0.1","platform":""},
  "role":"device",
  "scopes":["subscribe:chat.*","send"],
  "device":{"id":"65b60673d6ed884bf01c2c222d82ada0740f29ac3355d6a925c81f17f47a27b8",
            "publicKey":"ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ",
            "signature":"YBL1cFo2F3BLqDoEFYlkb97k0RZA1cSdLV1mJom9pZZjM5g53e8Bxofd3Cqq1qW8nWQEyi4vB9QnPFm9IxgcBQ",
            "signedAt":1767225600000,"nonce":"ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM"}
}}
)";
  ConnectParse r = parse_connect(frame);
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.request.public_key, kVectorKeyBytes);
  EXPECT_EQ(r.request.signature, kVectorSignatureBytes);
  EXPECT_EQ(r.request.client_platform, "");
}

TEST(ParseConnect, ServiceConnect) {
  ConnectParse r = parse_connect(service_connect().json());
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.request.role, Role::kService);
  EXPECT_EQ(r.request.token, "svc-token-123");
  EXPECT_TRUE(r.request.device_id.empty());
  EXPECT_EQ(r.request.scopes, (std::vector<std::string>{"subscribe:chat.*", "send"}));
}

TEST(ParseConnect, RoleNames) {
  EXPECT_EQ(role_name(Role::kDevice), "device");
  EXPECT_EQ(role_name(Role::kService), "service");
}

TEST(ParseConnect, EscapedStringsAreDecoded) {
  Connect c;
  c.id = R"("\u0061\"b\\")";
  c.name = R"("caf\u00e9 \ud83d\ude00")";
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.request.id, "a\"b\\");
  EXPECT_EQ(r.request.client_name, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

// --- The frame --------------------------------------------------------------------------------

TEST(ParseConnect, FrameSizeLimit) {
  Connect c;
  std::string base = c.json();
  // Pad with trailing whitespace (valid JSON) to exactly the limit, then one more byte.
  std::string at = base + std::string(kMaxPreAuthFrame - base.size(), ' ');
  ASSERT_EQ(at.size(), kMaxPreAuthFrame);
  EXPECT_TRUE(parse_connect(at).ok);
  std::string over = at + " ";
  ConnectParse r = parse_connect(over);
  EXPECT_FALSE(r.ok);
  EXPECT_STREQ(r.error.code, "INVALID_REQUEST");
  EXPECT_EQ(r.error.message, "frame: larger than 65536 bytes");
  EXPECT_EQ(r.request_id, "");  // not parsed at all
  // The same through an unknown member holding a long string.
  Connect big;
  big.top_extra = ",\"pad\":\"\"";
  size_t room = kMaxPreAuthFrame - big.json().size();
  big.top_extra = ",\"pad\":\"" + std::string(room, 'x') + "\"";
  ASSERT_EQ(big.json().size(), kMaxPreAuthFrame);
  EXPECT_TRUE(parse_connect(big.json()).ok);
  big.top_extra = ",\"pad\":\"" + std::string(room + 1, 'x') + "\"";
  EXPECT_FALSE(parse_connect(big.json()).ok);
}

TEST(ParseConnect, NotAnObject) {
  for (std::string_view frame : {"[]", "[{\"type\":\"req\"}]", "\"req\"", "1", "null", "true"}) {
    ConnectParse r = parse_connect(frame);
    EXPECT_FALSE(r.ok) << frame;
    EXPECT_STREQ(r.error.code, "INVALID_REQUEST");
    EXPECT_EQ(r.error.message, "frame: expected a JSON object") << frame;
    EXPECT_EQ(r.request_id, "");
  }
}

TEST(ParseConnect, MalformedJson) {
  std::string good = Connect().json();
  for (std::string frame :
       {std::string(""), std::string("   "), std::string("{"), std::string("{\"type\":\"req\""),
        std::string("{\"type\":\"req\",}"), std::string("{'type':'req'}"),
        std::string("{\"a\":01}"), std::string("{\"a\":\"\\x\"}"), std::string("{\"a\":\"\x01\"}"),
        std::string("{\"a\":\"\\ud800\"}"), std::string("{\"a\":1e400}"),
        std::string("{\"a\":123456789012345678901234567890}"), std::string("\xef\xbb\xbf") + good,
        good.substr(0, good.size() - 1)}) {
    ConnectParse r = parse_connect(frame);
    EXPECT_FALSE(r.ok) << frame;
    EXPECT_STREQ(r.error.code, "INVALID_REQUEST") << frame;
    EXPECT_EQ(r.error.message, "frame: malformed JSON") << frame;
    EXPECT_EQ(r.request_id, "");
  }
}

TEST(ParseConnect, TrailingGarbage) {
  std::string good = Connect().json();
  for (std::string tail : {" x", "{}", ",", "]", "}", "\"\"", "0", " null"}) {
    ConnectParse r = parse_connect(good + tail);
    EXPECT_FALSE(r.ok) << tail;
    EXPECT_EQ(r.error.message, "frame: malformed JSON") << tail;
  }
  // Whitespace around the object is fine.
  EXPECT_TRUE(parse_connect(" \t\r\n" + good + " \t\r\n").ok);
}

TEST(ParseConnect, DeepNesting) {
  // Nesting inside an ignored member, at the depth limit and one past it (the top-level object
  // is level 1, "x"'s arrays start at level 2).
  auto nested = [](size_t arrays) {
    Connect c;
    c.top_extra = ",\"x\":" + std::string(arrays, '[') + std::string(arrays, ']');
    return c.json();
  };
  EXPECT_TRUE(parse_connect(nested(kMaxJsonDepth - 1)).ok);
  ConnectParse r = parse_connect(nested(kMaxJsonDepth));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.message, "frame: JSON nested deeper than 128 levels");
  // As deep as the frame limit allows: refused without recursion.
  std::string deep(kMaxPreAuthFrame / 2, '[');
  deep += std::string(kMaxPreAuthFrame / 2, ']');
  r = parse_connect(deep);
  EXPECT_FALSE(r.ok);
  EXPECT_STREQ(r.error.code, "INVALID_REQUEST");
  std::string objects;
  for (size_t i = 0; i < kMaxPreAuthFrame / 8; ++i) objects += "{\"a\":";
  r = parse_connect(objects);
  EXPECT_FALSE(r.ok);
}

// --- Top-level members ------------------------------------------------------------------------

TEST(ParseConnect, Type) {
  for (std::string v :
       {kOmit, std::string("1"), std::string("null"), q("res"), q("REQ"), q("req "), q("")}) {
    Connect c;
    c.type = v;
    expect_invalid(c, "type");
    // The id was fine: the error response can carry it.
    EXPECT_EQ(parse_connect(c.json()).request_id, "1");
  }
}

TEST(ParseConnect, RequestId) {
  for (std::string v : {kOmit, std::string("1"), std::string("null"), std::string("[\"1\"]"), q(""),
                        q(std::string(kMaxRequestIdLength + 1, 'a')), q("a\\u0001"), q("a\\n"),
                        q("\x7f"), q("caf\xc3\xa9"), q("\\u0000")}) {
    Connect c;
    c.id = v;
    expect_invalid(c, "id");
    EXPECT_EQ(parse_connect(c.json()).request_id, "") << v;
  }
  Connect c;
  c.id = q(std::string(kMaxRequestIdLength, '~'));
  expect_ok(c);
  c.id = q(" !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~");
  expect_ok(c);
  c.id = q("\\\"\\\\");
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.id, "\"\\");
}

TEST(ParseConnect, MethodMustBeConnect) {
  for (std::string v : {kOmit, q("subscribe"), q("Connect"), q("connect "), q(""), std::string("1"),
                        std::string("null")}) {
    Connect c;
    c.method = v;
    c.id = q("req-7");
    ConnectParse r = parse_connect(c.json());
    EXPECT_FALSE(r.ok) << v;
    EXPECT_STREQ(r.error.code, "INVALID_REQUEST");
    EXPECT_EQ(r.error.message, "first request must be connect");
    EXPECT_EQ(r.request_id, "req-7");
  }
}

TEST(ParseConnect, ParamsObject) {
  for (std::string v : {kOmit, std::string("null"), std::string("[]"), q("{}"), std::string("1")}) {
    Connect c;
    if (v == kOmit) {
      c.params = "";
      std::string frame = R"({"type":"req","id":"9","method":"connect"})";
      ConnectParse r = parse_connect(frame);
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.error.message, "params: missing");
      EXPECT_EQ(r.request_id, "9");
      continue;
    }
    c.params = v;
    expect_invalid(c, "params");
  }
  Connect c;
  c.params = "{}";
  expect_invalid(c, "params.minProtocol");
}

// --- Protocol range ---------------------------------------------------------------------------

TEST(ParseConnect, ProtocolNumbers) {
  for (std::string v : {kOmit, q("1"), std::string("-1"), std::string("1.0"), std::string("1e0"),
                        std::string("null"), std::string("true"), std::string("2147483648"),
                        std::string("18446744073709551615")}) {
    Connect c;
    c.min = v;
    expect_invalid(c, "params.minProtocol");
    c = Connect();
    c.max = v;
    expect_invalid(c, "params.maxProtocol");
  }
  Connect c;
  c.min = "2";
  c.max = "1";
  expect_invalid(c, "params.minProtocol");
}

TEST(ParseConnect, ProtocolOverlap) {
  struct Case {
    std::string min, max;
    bool ok;
  };
  for (const Case& k : {Case{"1", "1", true}, Case{"0", "1", true}, Case{"1", "5", true},
                        Case{"0", "2147483647", true}, Case{"0", "0", false}, Case{"2", "3", false},
                        Case{"2147483647", "2147483647", false}}) {
    Connect c;
    c.min = k.min;
    c.max = k.max;
    ConnectParse r = parse_connect(c.json());
    EXPECT_EQ(r.ok, k.ok) << k.min << "-" << k.max;
    if (k.ok) {
      EXPECT_EQ(r.request.min_protocol, std::stoi(k.min));
      EXPECT_EQ(r.request.max_protocol, std::stoll(k.max));
    } else {
      EXPECT_STREQ(r.error.code, "PROTOCOL_MISMATCH");
      EXPECT_EQ(r.request_id, "1");
    }
  }
  Connect c;
  c.min = "2";
  c.max = "3";
  EXPECT_EQ(parse_connect(c.json()).error.message, "server speaks protocol 1, client offers 2-3");
}

TEST(ParseConnect, ProtocolMismatchBeforeOtherFields) {
  // A version-2 client whose connect request has a different shape still learns the reason.
  Connect c;
  c.min = "2";
  c.max = "2";
  c.client = "\"v2-client-string\"";
  c.role = q("robot");
  c.scopes = kOmit;
  ConnectParse r = parse_connect(c.json());
  EXPECT_FALSE(r.ok);
  EXPECT_STREQ(r.error.code, "PROTOCOL_MISMATCH");
}

// --- client -----------------------------------------------------------------------------------

TEST(ParseConnect, ClientObject) {
  for (std::string v : {kOmit, std::string("null"), std::string("[]"), q("x")}) {
    Connect c;
    c.client = v;
    if (v == kOmit) {
      c.params =
          R"({"minProtocol":1,"maxProtocol":1,"role":"service","scopes":[],"auth":{"token":"t"}})";
    }
    expect_invalid(c, "params.client");
  }
}

// Checks a string field's length limits (in bytes) and the characters it refuses.
template <typename Set>
void check_text_field(std::string_view path, size_t min, size_t max, Set set,
                      const std::vector<std::string>& bad_values, bool required = true) {
  if (required) {
    Connect c;
    set(c, kOmit);
    expect_invalid(c, path);
  }
  for (std::string v : {std::string("1"), std::string("null"), std::string("[]"), std::string("{}"),
                        std::string("true")}) {
    Connect c;
    set(c, v);
    expect_invalid(c, path);
  }
  {
    Connect c;
    set(c, q(std::string(max, 'a')));
    expect_ok(c);
    set(c, q(std::string(max + 1, 'a')));
    expect_invalid(c, path);
    set(c, q(std::string(min, 'a')));
    expect_ok(c);
    if (min > 0) {
      set(c, q(std::string(min - 1, 'a')));
      expect_invalid(c, path);
    }
  }
  for (const std::string& v : bad_values) {
    Connect c;
    set(c, v);
    expect_invalid(c, path);
  }
}

const std::vector<std::string> kControlChars = {
    q("a\\nb"), q("\\u0000"), q("a\\tb"), q("\\u001f"), q("\x7f"), q("\xc2\x80"), q("\xc2\x9f")};

TEST(ParseConnect, ClientName) {
  check_text_field(
      "params.client.name", 1, kMaxClientName, [](Connect& c, const std::string& v) { c.name = v; },
      kControlChars);
}

TEST(ParseConnect, ClientVersion) {
  check_text_field(
      "params.client.version", 1, kMaxClientVersion,
      [](Connect& c, const std::string& v) { c.version = v; }, kControlChars);
}

TEST(ParseConnect, ClientPlatform) {
  check_text_field(
      "params.client.platform", 0, kMaxClientPlatform,
      [](Connect& c, const std::string& v) { c.platform = v; }, kControlChars,
      /*required=*/false);
  Connect c;
  c.platform = kOmit;
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.request.client_platform, "");
}

TEST(ParseConnect, ClientTextAllowsUtf8CountsBytes) {
  Connect c;
  c.name = q("J\xc3\xbcrgen's \xe2\x82\xac phone \xf0\x9f\x93\xb1 \xc2\xa0");  // ü € 📱 NBSP
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.request.client_name, "J\xc3\xbcrgen's \xe2\x82\xac phone \xf0\x9f\x93\xb1 \xc2\xa0");
  // 32 two-byte characters are 64 bytes (fits); 33 are 66 (does not).
  std::string two_byte;
  for (int i = 0; i < 32; ++i) two_byte += "\xc3\xa9";
  c.name = q(two_byte);
  expect_ok(c);
  c.name = q(two_byte + "\xc3\xa9");
  expect_invalid(c, "params.client.name");
}

// --- role and scopes --------------------------------------------------------------------------

TEST(ParseConnect, Role) {
  for (std::string v : {kOmit, q("admin"), q("Device"), q(""), std::string("1"),
                        std::string("null"), std::string("[\"device\"]")}) {
    Connect c;
    c.role = v;
    expect_invalid(c, "params.role");
  }
}

TEST(ParseConnect, ScopesArray) {
  for (std::string v :
       {kOmit, std::string("null"), q("send"), std::string("{}"), std::string("1")}) {
    Connect c;
    c.scopes = v;
    expect_invalid(c, "params.scopes");
  }
  Connect c;
  c.scopes = "[]";
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.request.scopes.empty());
}

TEST(ParseConnect, ScopesCountLimit) {
  auto scopes = [](size_t n) {
    std::string s = "[";
    for (size_t i = 0; i < n; ++i) s += (i ? "," : "") + q("publish:ch" + std::to_string(i));
    return s + "]";
  };
  Connect c;
  c.scopes = scopes(kMaxScopesPerRequest);
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  ASSERT_EQ(r.request.scopes.size(), kMaxScopesPerRequest);
  EXPECT_EQ(r.request.scopes[0], "publish:ch0");
  EXPECT_EQ(r.request.scopes[31], "publish:ch31");
  c.scopes = scopes(kMaxScopesPerRequest + 1);
  expect_invalid(c, "params.scopes");
}

TEST(ParseConnect, ScopesKeepOrderAndDuplicates) {
  Connect c;
  c.scopes = R"(["send","subscribe:*","send","publish:a.b"])";
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.scopes,
            (std::vector<std::string>{"send", "subscribe:*", "send", "publish:a.b"}));
}

TEST(ParseConnect, ScopeItems) {
  for (std::string item :
       {std::string("1"), std::string("null"), std::string("[]"), q("subscribe:chat.*,send"),
        q("send\\n"), q(""), q("Send"), q("send:"), q("subscribe:a b")}) {
    Connect c;
    c.scopes = "[\"send\"," + item + "]";
    expect_invalid(c, "params.scopes[1]");
  }
  // Length: verb of 10 + ':' + 128 + '*' = 140 fits; a verb of 11 makes 141.
  std::string channel(kMaxChannelLength, 'c');
  Connect c;
  c.scopes = "[" + q("abcdefghij:" + channel + "*") + "]";
  expect_ok(c);
  c.scopes = "[" + q("abcdefghijk:" + channel + "*") + "]";
  expect_invalid(c, "params.scopes[0]");
}

TEST(ScopeSyntax, Valid) {
  std::string channel(kMaxChannelLength, 'Z');
  for (std::string s :
       {std::string("send"), std::string("subscribe:*"), std::string("subscribe:chat.*"),
        std::string("publish:a"), std::string("subscribe:device:abc"), std::string("x:AZaz09._:-"),
        std::string("publish:a:*"), std::string("a:-"), "subscribe:" + channel,
        "pub:" + channel + "*"}) {
    EXPECT_TRUE(auth::valid_scope(s)) << s;
  }
}

TEST(ScopeSyntax, Invalid) {
  std::string channel(kMaxChannelLength + 1, 'Z');
  for (std::string s : {std::string(""),
                        std::string(":"),
                        std::string(":a"),
                        std::string("*"),
                        std::string("Send"),
                        std::string("send1"),
                        std::string("se-nd"),
                        std::string("send:"),
                        std::string("send:**"),
                        std::string("send:a*b"),
                        std::string("send:*a"),
                        std::string("se nd"),
                        std::string("send,x"),
                        std::string("send\n"),
                        std::string("subscribe:chat.*,send"),
                        std::string("subscribe:a b"),
                        std::string("subscribe:a/b"),
                        std::string("subscribe:caf\xc3\xa9"),
                        std::string("subscribe:a\n"),
                        std::string("subscribe:*\n"),
                        "subscribe:" + channel,
                        "pub:" + channel + "*",
                        std::string("send\0x", 6)}) {
    EXPECT_FALSE(auth::valid_scope(s)) << s;
  }
}

TEST(ChannelSyntax, Boundaries) {
  EXPECT_TRUE(auth::valid_channel("a"));
  EXPECT_TRUE(auth::valid_channel(std::string(kMaxChannelLength, 'a')));
  EXPECT_FALSE(auth::valid_channel(std::string(kMaxChannelLength + 1, 'a')));
  EXPECT_FALSE(auth::valid_channel(""));
  EXPECT_FALSE(auth::valid_channel("a*"));
  EXPECT_FALSE(auth::valid_channel("a b"));
  EXPECT_TRUE(auth::valid_channel("device:65b6.chat_room-1"));
}

// --- device -----------------------------------------------------------------------------------

TEST(ParseConnect, DeviceObject) {
  for (std::string v : {kOmit, std::string("null"), std::string("[]"), q("x")}) {
    Connect c;
    c.device = v;
    if (v == kOmit) {
      c.params = R"({"minProtocol":1,"maxProtocol":1,"client":{"name":"a","version":"1"},)"
                 R"("role":"device","scopes":[]})";
    }
    expect_invalid(c, "params.device");
  }
}

TEST(ParseConnect, DeviceId) {
  std::string hex(kDeviceIdLength, 'a');
  for (std::string v :
       {kOmit, std::string("1"), std::string("null"), q(""), q(hex.substr(1)), q(hex + "a"),
        q(std::string(kDeviceIdLength, 'A')), q(std::string(kDeviceIdLength - 1, 'a') + "g"),
        q(std::string(kDeviceIdLength - 1, 'a') + " ")}) {
    Connect c;
    c.device_id = v;
    expect_invalid(c, "params.device.id");
  }
  Connect c;
  c.device_id = q("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  expect_ok(c);  // any well-formed id; whether it matches the key is auth's check
}

TEST(ParseConnect, PublicKeyEncoding) {
  std::string key(kVectorPublicKey);
  for (std::string v :
       {kOmit, std::string("1"), std::string("null"), q(""), q(key.substr(1)), q(key + "A"),
        q(key + "="),                                       // padding
        q("ebVWLo+mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ"),   // standard alphabet
        q("ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ"),   //
        q("ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmR"),   // non-zero trailing bits
        q("ebVWLo_mVPlAeLES6KmLp5Af Trmlb7X4OORC60ElmQ"),   // space
        q("ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60Elm."),   // bad char
        q("eb VWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ"),  // 44 chars
        q(std::string(kVectorSignature))}) {                // 64 bytes
    Connect c;
    c.public_key = v;
    expect_invalid(c, "params.device.publicKey");
  }
  Connect c;
  c.public_key = "\"x\"";
  EXPECT_EQ(parse_connect(c.json()).error.message,
            "params.device.publicKey: expected base64url of 32 bytes");
  // All-zero and all-ones keys decode exactly.
  c.public_key = q(std::string(42, 'A') + "A");
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.public_key, (std::array<uint8_t, 32>{}));
  c.public_key = q(std::string(42, '_') + "8");  // last char keeps its two unused bits zero
  r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  std::array<uint8_t, 32> ones;
  ones.fill(0xff);
  EXPECT_EQ(r.request.public_key, ones);
}

TEST(ParseConnect, SignatureEncoding) {
  std::string sig(kVectorSignature);
  for (std::string v : {kOmit, std::string("1"), std::string("null"), q(""), q(sig.substr(1)),
                        q(sig + "A"), q(sig + "=="), q(sig.substr(0, 85) + "C"),  // bits set
                        q(std::string(kVectorPublicKey))}) {
    Connect c;
    c.signature = v;
    expect_invalid(c, "params.device.signature");
  }
  Connect c;
  c.signature = q(std::string(85, '_') + "w");
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  std::array<uint8_t, 64> ones;
  ones.fill(0xff);
  EXPECT_EQ(r.request.signature, ones);
}

TEST(ParseConnect, SignedAt) {
  for (std::string v : {kOmit, q("1767225600000"), std::string("-1"), std::string("1.5"),
                        std::string("1767225600000.0"), std::string("1.7672256e12"),
                        std::string("null"), std::string("true"), std::string("-0.0")}) {
    Connect c;
    c.signed_at = v;
    expect_invalid(c, "params.device.signedAt");
  }
  for (std::string_view v : {"0", "18446744073709551615", "9223372036854775808"}) {
    Connect c;
    c.signed_at = std::string(v);
    ConnectParse r = parse_connect(c.json());
    ASSERT_TRUE(r.ok) << v;
    EXPECT_EQ(r.request.signed_at_ms, std::stoull(std::string(v)));
  }
}

TEST(ParseConnect, Nonce) {
  for (std::string v :
       {kOmit, std::string("1"), std::string("null"), q(std::string(kMaxNonceLength + 1, 'n')),
        q("a\\nb"), q("\\u0000"), q("caf\xc3\xa9"), q("\x7f")}) {
    Connect c;
    c.nonce = v;
    expect_invalid(c, "params.device.nonce");
  }
  // Anything else is kept as sent: comparing it to the challenge is auth's job.
  for (std::string v :
       {std::string(kMaxNonceLength, 'n'), std::string(""), std::string("not base64!")}) {
    Connect c;
    c.nonce = q(v);
    ConnectParse r = parse_connect(c.json());
    ASSERT_TRUE(r.ok) << v;
    EXPECT_EQ(r.request.nonce, v);
  }
}

TEST(ParseConnect, DeviceIgnoresAuthObject) {
  Connect c;
  c.auth = "\"not even an object\"";
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_TRUE(r.request.token.empty());
}

// --- service ----------------------------------------------------------------------------------

TEST(ParseConnect, ServiceAuth) {
  for (std::string v : {std::string("null"), std::string("[]"), q("token")}) {
    Connect c = service_connect();
    c.auth = v;
    expect_invalid(c, "params.auth");
  }
  // A missing token is TOKEN_INVALID, auth's answer: the parser passes an empty token on.
  for (std::string v : {kOmit, std::string("{}")}) {
    Connect c = service_connect();
    c.auth = v;
    ConnectParse r = parse_connect(c.json());
    ASSERT_TRUE(r.ok) << r.error.message;
    EXPECT_TRUE(r.request.token.empty());
  }
  for (std::string v : {std::string(R"({"token":1})"),
                        std::string(R"({"token":null})"), std::string(R"({"token":""})"),
                        R"({"token":")" + std::string(kMaxTokenLength + 1, 't') + "\"}",
                        std::string(R"({"token":"a\nb"})"), std::string(R"({"token":"\u00e9"})")}) {
    Connect c = service_connect();
    c.auth = v;
    expect_invalid(c, "params.auth.token");
  }
  Connect c = service_connect();
  std::string longest(kMaxTokenLength, 't');
  c.auth = R"({"token":")" + longest + "\"}";
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.request.token, longest);
  c.auth = R"({"token":"x"})";
  EXPECT_TRUE(parse_connect(c.json()).ok);
}

TEST(ParseConnect, ServiceIgnoresDeviceObject) {
  Connect c = service_connect();
  c.params_extra = R"(,"device":{"id":"nonsense","publicKey":5})";
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_TRUE(r.request.device_id.empty());
  EXPECT_EQ(r.request.public_key, (std::array<uint8_t, 32>{}));
}

// --- Unknown and duplicate keys ---------------------------------------------------------------

TEST(ParseConnect, UnknownKeysIgnored) {
  Connect c;
  c.top_extra = R"(,"extra":{"deep":[1,2,{"x":null}]},"Type":"nope","id ":"x")";
  c.params_extra = R"(,"future":true,"Role":"service","locale":"en")";
  c.client = R"({"name":"n","version":"v","build":42,"platform":"p","tags":["a"]})";
  c.device = "{\"id\":" + q(kVectorDeviceId) + ",\"publicKey\":" + q(kVectorPublicKey) +
             ",\"signature\":" + q(kVectorSignature) + ",\"signedAt\":5,\"nonce\":\"n\"," +
             "\"attestation\":{\"k\":\"v\"}}";
  ConnectParse r = parse_connect(c.json());
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.request.role, Role::kDevice);
  EXPECT_EQ(r.request.client_name, "n");
  EXPECT_EQ(r.request.signed_at_ms, 5u);
}

TEST(ParseConnect, DuplicateKeysRejected) {
  struct Case {
    Connect c;
    std::string path;
  };
  std::vector<Case> cases;
  {
    Connect c;
    c.top_extra = R"(,"type":"req")";
    cases.push_back({c, "frame"});
    c = Connect();
    c.top_extra = R"(,"id":"2")";
    cases.push_back({c, "frame"});
    c = Connect();
    c.top_extra = R"(,"typ\u0065":"req")";  // same key once unescaped
    cases.push_back({c, "frame"});
    c = Connect();
    c.top_extra = R"(,"x":1,"y":2,"x":3)";  // unknown keys repeat
    cases.push_back({c, "frame"});
    c = Connect();
    c.params_extra = R"(,"role":"service")";
    cases.push_back({c, "params"});
    c = Connect();
    c.params_extra = R"(,"maxProtocol":1)";
    cases.push_back({c, "params"});
    c = Connect();
    c.params_extra = R"(,"zz":1,"zz":1)";
    cases.push_back({c, "params"});
    c = Connect();
    c.client = R"({"name":"a","version":"1","name":"b"})";
    cases.push_back({c, "params.client"});
    c = Connect();
    c.device = "{\"id\":" + q(kVectorDeviceId) + ",\"publicKey\":" + q(kVectorPublicKey) +
               ",\"signature\":" + q(kVectorSignature) + ",\"signedAt\":5,\"nonce\":\"n\"," +
               "\"signedAt\":6}";
    cases.push_back({c, "params.device"});
    c = service_connect();
    c.auth = R"({"token":"a","token":"b"})";
    cases.push_back({c, "params.auth"});
  }
  for (const Case& k : cases) {
    ConnectParse r = parse_connect(k.c.json());
    EXPECT_FALSE(r.ok) << k.c.json();
    EXPECT_STREQ(r.error.code, "INVALID_REQUEST");
    EXPECT_EQ(r.error.message, k.path + ": duplicate key") << k.c.json();
  }
  // Keys inside ignored values are not inspected.
  Connect c;
  c.top_extra = R"(,"extra":{"a":1,"a":2})";
  EXPECT_TRUE(parse_connect(c.json()).ok);
}

TEST(ParseConnect, ManyUnknownKeys) {
  // A frame of thousands of distinct keys is fine; one repeat among them is found.
  Connect c;
  std::string extra;
  for (int i = 0; i < 5000; ++i) extra += ",\"k" + std::to_string(i) + "\":0";
  c.top_extra = extra;
  EXPECT_TRUE(parse_connect(c.json()).ok);
  c.top_extra = extra + ",\"k2500\":1";
  EXPECT_EQ(parse_connect(c.json()).error.message, "frame: duplicate key");
}

// --- Error response id ------------------------------------------------------------------------

TEST(ParseConnect, RequestIdRecoveredForErrors) {
  Connect c;
  c.id = q("abc-123");
  c.public_key = q("bad");
  ConnectParse r = parse_connect(c.json());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.request_id, "abc-123");
  EXPECT_EQ(r.error.message, "params.device.publicKey: expected base64url of 32 bytes");
  // Recovered regardless of where the id sits.
  r = parse_connect(R"({"params":5,"id":"late","type":"req","method":"connect"})");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.request_id, "late");
  // Not when the id itself is bad, nor when the frame is not JSON.
  c.id = q(std::string(kMaxRequestIdLength + 1, 'x'));
  EXPECT_EQ(parse_connect(c.json()).request_id, "");
  EXPECT_EQ(parse_connect(R"({"id":"1",)").request_id, "");
  EXPECT_EQ(parse_connect(R"({"id":"1","id":"1"})").request_id, "");
}

TEST(ParseConnect, ReusedAcrossCallsAndLargerFrames) {
  // The per-thread parser grows for a bigger frame and still parses small ones afterwards.
  Connect big;
  big.top_extra = ",\"pad\":\"" + std::string(60000, 'p') + "\"";
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(parse_connect(Connect().json()).ok);
    EXPECT_TRUE(parse_connect(big.json()).ok);
  }
}

}  // namespace
}  // namespace ringway::gateway
