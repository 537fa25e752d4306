#include "load/frames.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace ringway::load {
namespace {

using Bytes = std::vector<uint8_t>;

// An unmasked server frame with the minimal length encoding (unless `length_form` forces one).
Bytes server_frame(uint8_t opcode, const Bytes& payload, bool fin = true, int length_form = 0,
                   uint8_t rsv = 0, bool masked = false) {
  Bytes f;
  f.push_back(uint8_t((fin ? 0x80 : 0) | (rsv << 4) | opcode));
  uint64_t n = payload.size();
  uint8_t m = masked ? 0x80 : 0;
  int form = length_form ? length_form : n < 126 ? 7 : n <= 0xffff ? 16 : 64;
  if (form == 7) {
    f.push_back(uint8_t(m | n));
  } else if (form == 16) {
    f.push_back(m | 126);
    f.push_back(uint8_t(n >> 8));
    f.push_back(uint8_t(n));
  } else {
    f.push_back(m | 127);
    for (int i = 7; i >= 0; --i) f.push_back(uint8_t(n >> (8 * i)));
  }
  if (masked) f.insert(f.end(), {1, 2, 3, 4});
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes filled(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
  return b;
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Got {
  uint8_t opcode;
  Bytes payload;
  bool operator==(const Got& o) const { return opcode == o.opcode && payload == o.payload; }
};

struct Recorder final : FrameSink {
  std::vector<Got> got;
  size_t stop_after = SIZE_MAX;
  const uint8_t* input_begin = nullptr;
  const uint8_t* input_end = nullptr;
  size_t zero_copy = 0;
  bool on_frame(uint8_t opcode, std::span<const uint8_t> payload) override {
    got.push_back({opcode, Bytes(payload.begin(), payload.end())});
    if (!payload.empty() && payload.data() >= input_begin && payload.data() < input_end)
      ++zero_copy;
    return got.size() < stop_after;
  }
};

// Feeds `stream` as the pieces [0,a), [a,b), [b,n).
ServerFrameParser::Result feed_split(ServerFrameParser& p, Recorder& r, const Bytes& stream,
                                     size_t a, size_t b) {
  const size_t cuts[] = {0, a, b, stream.size()};
  ServerFrameParser::Result res = ServerFrameParser::Result::kOk;
  for (int i = 0; i < 3; ++i) {
    std::span<const uint8_t> piece(stream.data() + cuts[i], cuts[i + 1] - cuts[i]);
    r.input_begin = piece.data();
    r.input_end = piece.data() + piece.size();
    res = p.feed(piece, r);
    if (res != ServerFrameParser::Result::kOk) return res;
  }
  return res;
}

const Bytes kPing = text("are you there");

std::vector<Got> expected_messages() {
  return {
      {kOpText, text("hello")},
      {kOpBinary, filled(300, 1)},
      {kOpPing, kPing},
      {kOpText, text("fragmented message")},  // delivered after the ping sent between its parts
      {kOpBinary, {}},
      {kOpClose, {0x03, 0xe8}},
  };
}

Bytes mixed_stream() {
  return cat({
      server_frame(kOpText, text("hello")),
      server_frame(kOpBinary, filled(300, 1)),  // 16-bit length
      server_frame(kOpText, text("fragm"), false),
      server_frame(kOpPing, kPing),  // control frames may sit between fragments
      server_frame(kOpContinuation, text("ented "), false),
      server_frame(kOpContinuation, text("message"), true),
      server_frame(kOpBinary, {}),
      server_frame(kOpClose, {0x03, 0xe8}),
  });
}

TEST(ServerFrameParser, WholeStreamInOneCall) {
  ServerFrameParser p;
  Recorder r;
  Bytes s = mixed_stream();
  r.input_begin = s.data();
  r.input_end = s.data() + s.size();
  EXPECT_EQ(p.feed(s, r), ServerFrameParser::Result::kOk);
  EXPECT_EQ(r.got, expected_messages());
  EXPECT_EQ(p.buffered(), 0u);
  // Unfragmented frames that arrived whole came straight from the input.
  EXPECT_GE(r.zero_copy, 3u);
}

TEST(ServerFrameParser, EverySplitInTwoAndThreePiecesGivesTheSameFrames) {
  Bytes s = mixed_stream();
  std::vector<Got> want;
  {
    ServerFrameParser p;
    Recorder r;
    ASSERT_EQ(p.feed(s, r), ServerFrameParser::Result::kOk);
    want = r.got;
  }
  for (size_t a = 0; a <= s.size(); ++a) {
    ServerFrameParser p;
    Recorder r;
    ASSERT_EQ(feed_split(p, r, s, a, a), ServerFrameParser::Result::kOk) << a;
    ASSERT_EQ(r.got, want) << "split at " << a;
    ASSERT_EQ(p.buffered(), 0u);
  }
  for (size_t a = 0; a <= s.size(); a += 3) {
    for (size_t b = a; b <= s.size(); b += 5) {
      ServerFrameParser p;
      Recorder r;
      ASSERT_EQ(feed_split(p, r, s, a, b), ServerFrameParser::Result::kOk) << a << "," << b;
      ASSERT_EQ(r.got, want) << "splits at " << a << ", " << b;
    }
  }
}

TEST(ServerFrameParser, ByteByByte) {
  Bytes s = mixed_stream();
  ServerFrameParser p, whole;
  Recorder r, w;
  ASSERT_EQ(whole.feed(s, w), ServerFrameParser::Result::kOk);
  for (uint8_t b : s) ASSERT_EQ(p.feed({&b, 1}, r), ServerFrameParser::Result::kOk);
  EXPECT_EQ(r.got, w.got);
}

TEST(ServerFrameParser, LargeFramesWith64BitLengthsInEverySplitRegion) {
  Bytes big = filled(70000, 9);
  Bytes s = cat({server_frame(kOpBinary, big), server_frame(kOpText, text("after"))});
  // Splits around the header and the frame boundary, and a spread through the payload.
  std::vector<size_t> cuts;
  for (size_t i = 0; i <= 16; ++i) cuts.push_back(i);
  for (size_t i = 0; i < s.size(); i += 997) cuts.push_back(i);
  for (size_t i = 70000; i <= s.size(); ++i) cuts.push_back(i);
  for (size_t a : cuts) {
    ServerFrameParser p;
    Recorder r;
    ASSERT_EQ(feed_split(p, r, s, a, a), ServerFrameParser::Result::kOk) << a;
    ASSERT_EQ(r.got.size(), 2u) << a;
    EXPECT_EQ(r.got[0].payload, big);
    EXPECT_EQ(r.got[1].payload, text("after"));
    EXPECT_EQ(p.buffered(), 0u);
  }
}

TEST(ServerFrameParser, BoundaryLengths) {
  for (size_t n : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 65537u}) {
    Bytes payload = filled(n, uint8_t(n));
    Bytes s = server_frame(kOpBinary, payload);
    for (size_t a : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(4), size_t(9),
                     size_t(10), s.size() / 2, s.size() - 1, s.size()}) {
      if (a > s.size()) continue;
      ServerFrameParser p;
      Recorder r;
      ASSERT_EQ(feed_split(p, r, s, a, a), ServerFrameParser::Result::kOk) << n << "@" << a;
      ASSERT_EQ(r.got.size(), 1u);
      EXPECT_EQ(r.got[0].payload, payload);
    }
  }
}

struct BadCase {
  const char* name;
  Bytes stream;
  FrameError error;
};

std::vector<BadCase> bad_cases() {
  return {
      {"masked", server_frame(kOpText, text("x"), true, 0, 0, true), FrameError::kMasked},
      {"rsv1", server_frame(kOpText, text("x"), true, 0, 4), FrameError::kReservedBits},
      {"rsv3", server_frame(kOpBinary, text("x"), true, 0, 1), FrameError::kReservedBits},
      {"opcode 3", server_frame(3, text("x")), FrameError::kUnknownOpcode},
      {"opcode 11", server_frame(11, {}), FrameError::kUnknownOpcode},
      {"fragmented ping", server_frame(kOpPing, {}, false), FrameError::kControlFragmented},
      {"long pong", server_frame(kOpPong, filled(126, 0)), FrameError::kControlTooLong},
      {"16-bit for 5", server_frame(kOpText, text("hello"), true, 16),
       FrameError::kNonMinimalLength},
      {"64-bit for 300", server_frame(kOpBinary, filled(300, 0), true, 64),
       FrameError::kNonMinimalLength},
      {"64-bit high bit", Bytes{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, FrameError::kLengthHighBit},
      {"continuation first", server_frame(kOpContinuation, text("x")),
       FrameError::kUnexpectedContinuation},
      {"interleaved", cat({server_frame(kOpText, text("a"), false), server_frame(kOpText, text("b"))}),
       FrameError::kInterleavedMessage},
  };
}

TEST(ServerFrameParser, ProtocolErrorsInEverySplit) {
  for (const BadCase& bc : bad_cases()) {
    // A valid frame first, so the error is found mid-stream too.
    Bytes s = cat({server_frame(kOpText, text("ok")), bc.stream});
    for (size_t a = 0; a <= s.size(); ++a) {
      ServerFrameParser p;
      Recorder r;
      EXPECT_EQ(feed_split(p, r, s, a, a), ServerFrameParser::Result::kError)
          << bc.name << " split " << a;
      EXPECT_EQ(p.error(), bc.error) << bc.name << " split " << a;
      ASSERT_GE(r.got.size(), 1u);
      EXPECT_EQ(r.got[0].payload, text("ok"));
      // After an error the parser refuses more input.
      Recorder r2;
      EXPECT_EQ(p.feed(text("x"), r2), ServerFrameParser::Result::kError);
    }
  }
}

TEST(ServerFrameParser, DeclaredLengthOverTheLimitFailsBeforeBuffering) {
  ServerFrameParser p(1000);
  Recorder r;
  Bytes head = {0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0};  // 4 GiB declared
  EXPECT_EQ(p.feed(head, r), ServerFrameParser::Result::kError);
  EXPECT_EQ(p.error(), FrameError::kTooBig);
  EXPECT_EQ(p.buffered(), 0u);
  // A fragmented message whose parts add up past the limit.
  ServerFrameParser q(1000);
  Recorder r2;
  Bytes s = cat({server_frame(kOpBinary, filled(600, 0), false),
                 server_frame(kOpContinuation, filled(600, 0), true)});
  EXPECT_EQ(q.feed(s, r2), ServerFrameParser::Result::kError);
  EXPECT_EQ(q.error(), FrameError::kTooBig);
  // Exactly at the limit is fine.
  ServerFrameParser ok(1000);
  Recorder r3;
  EXPECT_EQ(ok.feed(server_frame(kOpBinary, filled(1000, 0)), r3), ServerFrameParser::Result::kOk);
}

TEST(ServerFrameParser, SinkCanStopParsing) {
  Bytes s = mixed_stream();
  ServerFrameParser p;
  Recorder r;
  r.stop_after = 2;
  EXPECT_EQ(p.feed(s, r), ServerFrameParser::Result::kStopped);
  EXPECT_EQ(r.got.size(), 2u);
}

TEST(ServerFrameParser, ResetForgetsPartialState) {
  Bytes s = server_frame(kOpBinary, filled(500, 3));
  ServerFrameParser p;
  Recorder r;
  ASSERT_EQ(p.feed(std::span<const uint8_t>(s).first(100), r), ServerFrameParser::Result::kOk);
  EXPECT_GT(p.buffered(), 0u);
  p.reset();
  EXPECT_EQ(p.buffered(), 0u);
  ASSERT_EQ(p.feed(s, r), ServerFrameParser::Result::kOk);
  ASSERT_EQ(r.got.size(), 1u);
}

// ---- client frames -------------------------------------------------------------------------

// Decodes one masked client frame: returns the unmasked payload, or fails the test.
Bytes decode_client_frame(const ByteBuffer& b, uint8_t& opcode, size_t& header_len) {
  const uint8_t* p = b.data();
  EXPECT_EQ(p[0] & 0x80, 0x80);
  opcode = p[0] & 0x0f;
  EXPECT_EQ(p[1] & 0x80, 0x80) << "client frames must be masked";
  uint64_t n = p[1] & 0x7f;
  size_t off = 2;
  if (n == 126) {
    n = (uint64_t(p[2]) << 8) | p[3];
    off = 4;
  } else if (n == 127) {
    n = 0;
    for (int i = 0; i < 8; ++i) n = (n << 8) | p[2 + i];
    off = 10;
  }
  uint8_t mask[4];
  std::memcpy(mask, p + off, 4);
  off += 4;
  header_len = off;
  EXPECT_EQ(b.size(), off + n);
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = p[off + i] ^ mask[i % 4];
  return out;
}

TEST(ClientFrames, MaskedFramesRoundTripAtEveryLengthForm) {
  for (size_t n : {0u, 1u, 7u, 8u, 9u, 125u, 126u, 65535u, 65536u, 100000u}) {
    Bytes payload = filled(n, 5);
    ByteBuffer b;
    ASSERT_TRUE(append_client_frame(b, kOpBinary, payload, 0xa1b2c3d4u));
    uint8_t op;
    size_t hl;
    EXPECT_EQ(decode_client_frame(b, op, hl), payload) << n;
    EXPECT_EQ(op, kOpBinary);
    EXPECT_EQ(hl, client_header_size(n)) << n;
  }
}

TEST(ClientFrames, CloseFrames) {
  ByteBuffer b;
  ASSERT_TRUE(append_client_close(b, 1000, {}, 0x01020304u));
  uint8_t op;
  size_t hl;
  EXPECT_EQ(decode_client_frame(b, op, hl), (Bytes{0x03, 0xe8}));
  EXPECT_EQ(op, kOpClose);
  ByteBuffer e;
  ASSERT_TRUE(append_client_close(e, 0, {}, 7));
  EXPECT_EQ(decode_client_frame(e, op, hl), Bytes{});
  // A long reason is cut to fit a control frame.
  Bytes reason(300, 'r');
  ByteBuffer l;
  ASSERT_TRUE(append_client_close(l, 4000, reason, 9));
  EXPECT_EQ(decode_client_frame(l, op, hl).size(), kMaxControlPayload);
}

TEST(ClientFrames, MaskIsAnInvolution) {
  Bytes data = filled(1031, 77), copy = data;
  apply_mask(copy.data(), copy.size(), 0xdeadbeefu);
  EXPECT_NE(copy, data);
  apply_mask(copy.data(), copy.size(), 0xdeadbeefu);
  EXPECT_EQ(copy, data);
}

}  // namespace
}  // namespace ringway::load
