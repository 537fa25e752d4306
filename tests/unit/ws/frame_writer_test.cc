#include "ws/frame_writer.h"

#include <gtest/gtest.h>

#include "test_frames.h"

namespace ringway::ws {
namespace {

using namespace test;

Bytes written(const ByteBuffer& b) { return Bytes(b.data(), b.data() + b.size()); }

Bytes header_then(Bytes header, const Bytes& payload) {
  header.insert(header.end(), payload.begin(), payload.end());
  return header;
}

TEST(FrameWriter, ExactBytesForLengthBoundaries) {
  struct Case {
    size_t length;
    Bytes header;
  };
  const Case cases[] = {
      {0, {0x82, 0x00}},
      {125, {0x82, 0x7d}},
      {126, {0x82, 0x7e, 0x00, 0x7e}},
      {65535, {0x82, 0x7e, 0xff, 0xff}},
      {65536, {0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
  };
  for (const Case& c : cases) {
    Bytes payload = random_bytes(c.length, c.length);
    ByteBuffer out;
    ASSERT_TRUE(write_frame(out, Opcode::kBinary, payload));
    EXPECT_EQ(written(out), header_then(c.header, payload)) << c.length;
  }
}

TEST(FrameWriter, OpcodesAndFin) {
  ByteBuffer out;
  ASSERT_TRUE(write_frame(out, Opcode::kText, bytes_of("ab"), false));
  ASSERT_TRUE(write_frame(out, Opcode::kContinuation, bytes_of("c"), true));
  ASSERT_TRUE(write_frame(out, Opcode::kPing, bytes_of("p")));
  ASSERT_TRUE(write_frame(out, Opcode::kPong, {}));
  EXPECT_EQ(written(out), (Bytes{0x01, 0x02, 'a', 'b', 0x80, 0x01, 'c', 0x89, 0x01, 'p', 0x8a, 0x00}));
}

TEST(FrameWriter, AppendsAfterExistingBytes) {
  ByteBuffer out;
  ASSERT_TRUE(out.append("xy", 2));
  ASSERT_TRUE(write_frame(out, Opcode::kText, bytes_of("z")));
  EXPECT_EQ(written(out), (Bytes{'x', 'y', 0x81, 0x01, 'z'}));
}

TEST(FrameWriter, RefusesInvalidControlFrames) {
  ByteBuffer out;
  ASSERT_TRUE(out.append("q", 1));
  EXPECT_FALSE(write_frame(out, Opcode::kPing, Bytes(kMaxControlPayload + 1, 'x')));
  EXPECT_FALSE(write_frame(out, Opcode::kPong, bytes_of("x"), false));
  EXPECT_FALSE(write_frame(out, static_cast<Opcode>(3), bytes_of("x")));
  EXPECT_EQ(written(out), Bytes{'q'}) << "a refused frame leaves the buffer unchanged";
  EXPECT_TRUE(write_frame(out, Opcode::kPing, Bytes(kMaxControlPayload, 'x')));
  // The encoder keeps working after a refusal.
  ByteBuffer again;
  ASSERT_TRUE(write_frame(again, Opcode::kText, bytes_of("ok")));
  EXPECT_EQ(written(again), (Bytes{0x81, 0x02, 'o', 'k'}));
}

TEST(FrameWriter, CloseFrames) {
  ByteBuffer out;
  ASSERT_TRUE(write_close(out, 1000, "bye"));
  EXPECT_EQ(written(out), (Bytes{0x88, 0x05, 0x03, 0xe8, 'b', 'y', 'e'}));
  ByteBuffer empty;
  ASSERT_TRUE(write_close(empty, 0, "ignored"));
  EXPECT_EQ(written(empty), (Bytes{0x88, 0x00}));
  ByteBuffer no_reason;
  ASSERT_TRUE(write_close(no_reason, 4002, ""));
  EXPECT_EQ(written(no_reason), (Bytes{0x88, 0x02, 0x0f, 0xa2}));
}

TEST(FrameWriter, CloseReasonIsTruncatedToFit) {
  ByteBuffer out;
  ASSERT_TRUE(write_close(out, 1001, std::string(200, 'r')));
  Bytes expected(2 + kMaxControlPayload, 'r');
  expected[0] = 0x88;
  expected[1] = 125;
  expected[2] = 0x03;
  expected[3] = 0xe9;
  EXPECT_EQ(written(out), expected);
}

TEST(FrameWriter, CloseReasonIsCutAtACodePointBoundary) {
  // 122 ASCII bytes then a 3-byte '€' straddling the 123-byte limit: the '€' is dropped whole.
  std::string reason = std::string(122, 'a') + "\xe2\x82\xac";
  ByteBuffer out;
  ASSERT_TRUE(write_close(out, 1000, reason));
  ASSERT_EQ(out.size(), 2u + 2 + 122);
  EXPECT_EQ(out.data()[1], 124);
  EXPECT_TRUE(is_valid_utf8({out.data() + 4, out.size() - 4}));
}

// Server frames are unmasked; a client would mask them, so mask before feeding the reader.
Bytes masked_copy(const Bytes& server_frame, uint32_t key) {
  size_t len7 = server_frame[1] & 0x7f;
  size_t header = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
  Bytes out(server_frame.begin(), server_frame.begin() + header);
  out[1] |= 0x80;
  uint8_t k[4] = {uint8_t(key >> 24), uint8_t(key >> 16), uint8_t(key >> 8), uint8_t(key)};
  out.insert(out.end(), k, k + 4);
  for (size_t i = header; i < server_frame.size(); ++i) {
    out.push_back(server_frame[i] ^ k[(i - header) % 4]);
  }
  return out;
}

TEST(FrameWriter, RoundTripThroughTheReader) {
  for (size_t n : {0, 1, 125, 126, 65535, 65536, 100000}) {
    Bytes payload = mixed_text(n);
    ByteBuffer out;
    ASSERT_TRUE(write_frame(out, Opcode::kText, payload));
    EXPECT_EQ(run_whole(masked_copy(written(out), 0x01020304 + n)),
              (Outcome{{message(Opcode::kText, payload)}, 0, ""}));
  }
  ByteBuffer close;
  ASSERT_TRUE(write_close(close, 1008, "INVALID_REQUEST"));
  EXPECT_EQ(run_whole(masked_copy(written(close), 7)),
            (Outcome{{closed(1008, bytes_of("INVALID_REQUEST"))}, 0, ""}));
}

TEST(FrameWriter, HeaderNeverExceedsTheNamedMaximum) {
  ByteBuffer out;
  ASSERT_TRUE(write_frame(out, Opcode::kBinary, Bytes(70000, 0)));
  EXPECT_EQ(out.size() - 70000, kMaxFrameHeader - 4) << "server frames carry no mask key";
}

}  // namespace
}  // namespace ringway::ws
