#include "probe/frames.h"

#include <gtest/gtest.h>

#include <random>

namespace ringway::probe {
namespace {

Bytes bytes(std::initializer_list<int> v) {
  Bytes out;
  for (int b : v) out.push_back(uint8_t(b));
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = uint8_t(rng());
  return out;
}

// A server (unmasked) frame, built independently of the code under test.
Bytes server_frame(uint8_t first_byte, const Bytes& payload) {
  Bytes out{first_byte};
  size_t n = payload.size();
  if (n <= 125) {
    out.push_back(uint8_t(n));
  } else if (n <= 0xffff) {
    out.push_back(126);
    out.push_back(uint8_t(n >> 8));
    out.push_back(uint8_t(n));
  } else {
    out.push_back(127);
    for (int i = 7; i >= 0; --i) out.push_back(uint8_t(uint64_t(n) >> (8 * i)));
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------------------------

TEST(FrameBuilder, Rfc6455Examples) {
  // RFC 6455 §5.7: a single-frame unmasked and masked text message "Hello".
  FrameSpec unmasked;
  unmasked.opcode = opcode::kText;
  unmasked.masked = false;
  EXPECT_EQ(build_frame(unmasked, std::string_view("Hello")),
            bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  FrameSpec masked;
  masked.opcode = opcode::kText;
  masked.mask_key = {0x37, 0xfa, 0x21, 0x3d};
  EXPECT_EQ(build_frame(masked, std::string_view("Hello")),
            bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  // Fragmented: "Hel" (not final), then a continuation "lo".
  FrameSpec first = unmasked;
  first.fin = false;
  EXPECT_EQ(build_frame(first, std::string_view("Hel")), bytes({0x01, 0x03, 0x48, 0x65, 0x6c}));
  FrameSpec cont = unmasked;
  cont.opcode = opcode::kContinuation;
  EXPECT_EQ(build_frame(cont, std::string_view("lo")), bytes({0x80, 0x02, 0x6c, 0x6f}));
}

TEST(FrameBuilder, LengthEncodingsAtTheBoundaries) {
  struct Case {
    uint64_t length;
    Bytes header;  // unmasked binary
  };
  const Case cases[] = {
      {0, bytes({0x82, 0x00})},
      {125, bytes({0x82, 0x7d})},
      {126, bytes({0x82, 0x7e, 0x00, 0x7e})},
      {65535, bytes({0x82, 0x7e, 0xff, 0xff})},
      {65536, bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00})},
      {uint64_t(1) << 62, bytes({0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0})},
  };
  for (const Case& c : cases) {
    FrameSpec spec;
    spec.masked = false;
    EXPECT_EQ(frame_header(spec, c.length), c.header) << c.length;
    spec.masked = true;
    spec.mask_key = {1, 2, 3, 4};
    Bytes with_mask = c.header;
    with_mask[1] |= 0x80;
    with_mask.insert(with_mask.end(), {1, 2, 3, 4});
    EXPECT_EQ(frame_header(spec, c.length), with_mask) << c.length;
  }
}

TEST(FrameBuilder, ReservedBitsAndOpcodes) {
  FrameSpec spec;
  spec.masked = false;
  spec.opcode = opcode::kText;
  spec.rsv = 4;
  EXPECT_EQ(frame_header(spec, 0)[0], 0xc1);  // FIN + RSV1 + text
  spec.rsv = 7;
  spec.fin = false;
  spec.opcode = 0xf;
  EXPECT_EQ(frame_header(spec, 0)[0], 0x7f);
}

TEST(FrameBuilder, DeclaredLengthDiffersFromPayload) {
  FrameSpec spec;
  spec.opcode = opcode::kBinary;
  spec.mask_key = {0, 0, 0, 0};
  spec.declared_length = uint64_t(1) << 62;
  Bytes f = build_frame(spec, std::string_view("abc"));
  EXPECT_EQ(f, bytes({0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c'}));
}

TEST(FrameBuilder, MaskingRoundTripsAndDependsOnOffset) {
  Bytes payload = random_bytes(1000, 1);
  FrameSpec spec;
  spec.mask_key = {0xde, 0xad, 0xbe, 0xef};
  Bytes f = build_frame(spec, payload);
  ASSERT_EQ(f.size(), 4 + 4 + payload.size());
  Bytes body(f.begin() + 8, f.end());
  EXPECT_NE(body, payload);
  apply_mask(body, spec.mask_key);
  EXPECT_EQ(body, payload);
  // Masking in two pieces with the right offset equals masking at once.
  Bytes a = payload, b = payload;
  apply_mask(a, spec.mask_key);
  std::span<uint8_t> bs(b);
  apply_mask(bs.subspan(0, 7), spec.mask_key, 0);
  apply_mask(bs.subspan(7), spec.mask_key, 7);
  EXPECT_EQ(a, b);
}

TEST(FrameBuilder, ClosePayload) {
  EXPECT_TRUE(close_payload(std::nullopt).empty());
  EXPECT_EQ(close_payload(1000), bytes({0x03, 0xe8}));
  EXPECT_EQ(close_payload(4002, "idle"), bytes({0x0f, 0xa2, 'i', 'd', 'l', 'e'}));
}

// ---------------------------------------------------------------------------------------------

TEST(Handshake, Base64Rfc4648Vectors) {
  auto b64 = [](std::string_view s) {
    return base64_encode(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg==");
  EXPECT_EQ(b64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(bytes({0xfb, 0xff, 0xbf})), "+/+/");
}

TEST(Handshake, KeysAreFreshBase64Of16Bytes) {
  std::string a = new_websocket_key(), b = new_websocket_key();
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a.substr(22), "==");
  EXPECT_NE(a, b);
}

TEST(Handshake, AcceptKeyRfc6455Example) {
  EXPECT_EQ(expected_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, UpgradeRequest) {
  EXPECT_EQ(upgrade_request("h:1", "/echo?x=1", "KEY", {"Authorization: Bearer t", "X-A: b"}),
            "GET /echo?x=1 HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\n"
            "Authorization: Bearer t\r\nX-A: b\r\n\r\n");
}

TEST(Handshake, UpgradeResponseChecks) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string good =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
  EXPECT_EQ(check_upgrade_response(good, key), "");
  // Case and lists are accepted.
  EXPECT_EQ(check_upgrade_response("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\n"
                                   "connection: keep-alive, Upgrade\r\n"
                                   "sec-websocket-accept:s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                   key),
            "");
  EXPECT_NE(check_upgrade_response("HTTP/1.1 404 Not Found\r\nContent-Length: 0", key)
                .find("404 Not Found"),
            std::string::npos);
  EXPECT_NE(check_upgrade_response("SSH-2.0-OpenSSH", key).find("not an HTTP response"),
            std::string::npos);
  EXPECT_NE(check_upgrade_response(good, "AAAAAAAAAAAAAAAAAAAAAA==").find("wrong"),
            std::string::npos);
  EXPECT_NE(check_upgrade_response("HTTP/1.1 101 X\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                   key)
                .find("Upgrade"),
            std::string::npos);
  EXPECT_NE(check_upgrade_response("HTTP/1.1 101 X\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade",
                                   key)
                .find("Accept"),
            std::string::npos);
}

TEST(Handshake, Printable) {
  EXPECT_EQ(printable("idle timeout"), "idle timeout");
  EXPECT_EQ(printable(std::string_view("a\0\xff\\\n", 5)), "a\\x00\\xff\\\\\\x0a");
  EXPECT_EQ(printable("abcdef", 3), "abc...");
}

}  // namespace
}  // namespace ringway::probe
