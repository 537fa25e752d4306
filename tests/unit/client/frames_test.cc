// Client frames are what the server's own reader accepts; server frames are read the same
// whatever the split, and every violation a server could commit fails with the right code.
#include "client/frames.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "ws/frame_writer.h"
#include "ws/message_reader.h"

namespace ringway::client {
namespace {

using Bytes = std::vector<uint8_t>;

// What the gateway's reader makes of client bytes.
struct ServerSide final : ws::MessageSink {
  std::vector<std::pair<ws::Opcode, std::string>> messages;
  uint16_t close_code = 0;
  std::string close_reason;
  int pings = 0;
  void on_message(ws::Opcode op, std::span<const uint8_t> p) override {
    messages.emplace_back(op, std::string(p.begin(), p.end()));
  }
  void on_ping(std::span<const uint8_t>) override { ++pings; }
  void on_pong(std::span<const uint8_t>) override {}
  void on_close(uint16_t code, std::span<const uint8_t> r) override {
    close_code = code;
    close_reason.assign(r.begin(), r.end());
  }
};

TEST(ClientFrames, TheGatewayReaderAcceptsThemAtEverySize) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536},
                   size_t{200000}}) {
    std::string text(n, 'x');
    for (size_t i = 0; i < n; ++i) text[i] = char('a' + i % 26);
    ByteBuffer out;
    ASSERT_TRUE(append_text_frame(out, text, 0x12345678u + uint32_t(n)));
    EXPECT_EQ(out.size(), n + (n < 126 ? 6 : n <= 0xffff ? 8 : 14));
    ws::MessageReader reader(1 << 20);
    ServerSide s;
    ws::ReadResult r = reader.feed(out.span(), s);
    ASSERT_EQ(r.close_code, 0) << r.reason << " at " << n;
    ASSERT_EQ(s.messages.size(), 1u);
    EXPECT_EQ(s.messages[0].second, text);
  }
}

TEST(ClientFrames, PingAndCloseWithAReasonCutAtACharacter) {
  ByteBuffer out;
  ASSERT_TRUE(append_frame(out, ws::Opcode::kPing, {}, 1));
  std::string reason(200, 'r');
  reason[122] = '\xc3';  // a two-byte character straddling the 123-byte limit
  reason[123] = '\xa9';
  ASSERT_TRUE(append_close_frame(out, 1000, reason, 0xdeadbeef));
  ws::MessageReader reader;
  ServerSide s;
  ws::ReadResult r = reader.feed(out.span(), s);
  ASSERT_EQ(r.close_code, 0) << r.reason;
  EXPECT_EQ(s.pings, 1);
  EXPECT_EQ(s.close_code, 1000);
  EXPECT_EQ(s.close_reason, std::string(122, 'r'));
  Bytes big(126, 0);
  EXPECT_FALSE(append_frame(out, ws::Opcode::kPing, big, 1));  // control frames are short
}

// Records what the client reader delivers, as text lines.
struct Recorder final : ServerFrameSink {
  std::vector<std::string> events;
  bool stop_after_first = false;
  bool on_message(ws::Opcode op, std::span<const uint8_t> p) override {
    events.push_back((op == ws::Opcode::kText ? "text:" : "binary:") + std::string(p.begin(), p.end()));
    return !stop_after_first;
  }
  bool on_ping(std::span<const uint8_t> p) override {
    events.push_back("ping:" + std::string(p.begin(), p.end()));
    return true;
  }
  bool on_pong(std::span<const uint8_t> p) override {
    events.push_back("pong:" + std::string(p.begin(), p.end()));
    return true;
  }
  void on_close(uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
};

void add(Bytes& out, ws::Opcode op, std::string_view payload, bool fin = true) {
  uint8_t head[ws::kMaxServerHeader];
  size_t h = ws::encode_header(head, op, payload.size(), fin);
  out.insert(out.end(), head, head + h);
  out.insert(out.end(), payload.begin(), payload.end());
}

// Feeds stream to reader `step` bytes at a time; every piece must read without a failure.
void feed_in_steps(ServerFrameReader& reader, const Bytes& stream, size_t step, Recorder& rec) {
  for (size_t i = 0; i < stream.size(); i += step) {
    size_t n = std::min(step, stream.size() - i);
    ReadFailure f = reader.feed(std::span<const uint8_t>(stream).subspan(i, n), rec);
    ASSERT_EQ(f.close_code, 0) << f.what << " step " << step;
  }
}

TEST(ServerFrameReader, SameEventsForEverySplit) {
  Bytes stream;
  add(stream, ws::Opcode::kText, "hello");
  add(stream, ws::Opcode::kPing, "p1");
  add(stream, ws::Opcode::kText, "fra", false);
  add(stream, ws::Opcode::kPong, "");
  add(stream, ws::Opcode::kContinuation, "gm\xc3", false);  // a character split across frames
  add(stream, ws::Opcode::kContinuation, "\xa9nt");
  add(stream, ws::Opcode::kBinary, std::string(70000, 'b'));
  add(stream, ws::Opcode::kText, "");
  add(stream, ws::Opcode::kClose, std::string("\x03\xe9", 2) + "bye");  // 1001
  add(stream, ws::Opcode::kText, "after the close");
  const std::vector<std::string> expected = {
      "text:hello", "ping:p1", "pong:", "text:fragm\xc3\xa9nt",
      "binary:" + std::string(70000, 'b'), "text:", "close:1001:bye"};
  for (size_t step : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{100}, size_t{4096},
                      stream.size()}) {
    ServerFrameReader reader;
    Recorder rec;
    ASSERT_NO_FATAL_FAILURE(feed_in_steps(reader, stream, step, rec));
    EXPECT_EQ(rec.events, expected) << "step " << step;
    EXPECT_TRUE(reader.done());
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(ServerFrameReader, HoldsNothingBetweenFrames) {
  ServerFrameReader reader;
  Recorder rec;
  Bytes one;
  add(one, ws::Opcode::kText, "abc");
  EXPECT_EQ(reader.feed(std::span<const uint8_t>(one).first(2), rec).close_code, 0);
  EXPECT_EQ(reader.buffered(), 2u);
  EXPECT_EQ(reader.feed(std::span<const uint8_t>(one).subspan(2), rec).close_code, 0);
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_EQ(rec.events, std::vector<std::string>{"text:abc"});
}

TEST(ServerFrameReader, SinkCanStopReading) {
  Bytes stream;
  add(stream, ws::Opcode::kText, "a");
  add(stream, ws::Opcode::kText, "b");
  ServerFrameReader reader;
  Recorder rec;
  rec.stop_after_first = true;
  reader.feed(stream, rec);
  EXPECT_EQ(rec.events, std::vector<std::string>{"text:a"});
  EXPECT_TRUE(reader.done());
}

struct Violation {
  const char* name;
  Bytes bytes;
  uint16_t code;
};

TEST(ServerFrameReader, ViolationsFailWithTheirCloseCode) {
  std::vector<Violation> cases;
  cases.push_back({"masked", {0x81, 0x81, 1, 2, 3, 4, 'x'}, 1002});
  cases.push_back({"rsv1", {0xc1, 0x01, 'x'}, 1002});
  cases.push_back({"reserved opcode", {0x83, 0x00}, 1002});
  cases.push_back({"fragmented ping", {0x09, 0x00}, 1002});
  cases.push_back({"long ping", {0x89, 126, 0, 126}, 1002});
  cases.push_back({"non-minimal 16-bit", {0x81, 126, 0, 5, 'a', 'b', 'c', 'd', 'e'}, 1002});
  cases.push_back({"non-minimal 64-bit", {0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 1002});
  cases.push_back({"high bit", {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, 1002});
  cases.push_back({"lone continuation", {0x80, 0x00}, 1002});
  cases.push_back({"text inside fragments", {0x01, 0x01, 'a', 0x81, 0x01, 'b'}, 1002});
  cases.push_back({"bad utf-8", {0x81, 0x02, 0xc3, 0x28}, 1007});
  cases.push_back({"truncated utf-8", {0x81, 0x01, 0xc3}, 1007});
  cases.push_back({"1-byte close", {0x88, 0x01, 0x03}, 1002});
  cases.push_back({"close code 1005", {0x88, 0x02, 0x03, 0xed}, 1002});
  cases.push_back({"close reason not utf-8", {0x88, 0x03, 0x03, 0xe8, 0xff}, 1007});
  for (const Violation& v : cases) {
    ServerFrameReader reader;
    Recorder rec;
    ReadFailure f = reader.feed(v.bytes, rec);
    EXPECT_EQ(f.close_code, v.code) << v.name;
    EXPECT_TRUE(reader.done()) << v.name;
    EXPECT_EQ(reader.feed(v.bytes, rec).close_code, 0) << v.name << ": reported once";
  }
}

TEST(ServerFrameReader, SizeLimitIsDecidedFromTheHeader) {
  ServerFrameReader reader(1000);
  Recorder rec;
  // Only the header of a 1 MiB frame: refused before any payload arrives.
  Bytes head = {0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 0};
  EXPECT_EQ(reader.feed(head, rec).close_code, 1009);
  EXPECT_EQ(reader.buffered(), 0u);
  // Fragments that together pass the limit.
  ServerFrameReader r2(1000);
  Bytes frags;
  add(frags, ws::Opcode::kBinary, std::string(600, 'a'), false);
  add(frags, ws::Opcode::kContinuation, std::string(600, 'a'));
  EXPECT_EQ(r2.feed(frags, rec).close_code, 1009);
  ServerFrameReader r3(1000);
  Bytes exact;
  add(exact, ws::Opcode::kBinary, std::string(1000, 'a'));
  EXPECT_EQ(r3.feed(exact, rec).close_code, 0);
}

// Every cut of a stream into two pieces, and a large frame cut around its 64-bit header, its
// end and through its payload, give the same events; a frame that arrives whole is handed over
// straight from the caller's bytes.
TEST(ServerFrameReader, EveryTwoPieceSplitAndLargeFrameRegions) {
  Bytes stream;
  add(stream, ws::Opcode::kText, "hello");
  add(stream, ws::Opcode::kBinary, std::string(300, 'x'));
  add(stream, ws::Opcode::kText, "fragm", false);
  add(stream, ws::Opcode::kPing, "are you there");
  add(stream, ws::Opcode::kContinuation, "ented message");
  add(stream, ws::Opcode::kBinary, std::string(70000, 'b'));
  add(stream, ws::Opcode::kText, "after");
  std::vector<std::string> want;
  {
    ServerFrameReader reader;
    Recorder rec;
    ASSERT_EQ(reader.feed(stream, rec).close_code, 0);
    want = rec.events;
    ASSERT_EQ(want.size(), 6u);
  }
  std::vector<size_t> cuts;
  for (size_t i = 0; i < 400; ++i) cuts.push_back(i);
  size_t big_at = 7 + 304 + 7 + 15 + 15;  // where the 70000-byte frame's header starts
  for (size_t i = big_at; i < big_at + 16; ++i) cuts.push_back(i);
  for (size_t i = big_at; i < stream.size(); i += 997) cuts.push_back(i);
  for (size_t i = stream.size() - 12; i <= stream.size(); ++i) cuts.push_back(i);
  for (size_t a : cuts) {
    ServerFrameReader reader;
    Recorder rec;
    std::span<const uint8_t> all(stream);
    ASSERT_EQ(reader.feed(all.first(a), rec).close_code, 0) << a;
    ASSERT_EQ(reader.feed(all.subspan(a), rec).close_code, 0) << a;
    ASSERT_EQ(rec.events, want) << "split at " << a;
    ASSERT_EQ(reader.buffered(), 0u) << a;
  }
}

struct WhereFrom final : ServerFrameSink {
  std::span<const uint8_t> input;
  int from_input = 0, total = 0;
  bool on_message(ws::Opcode, std::span<const uint8_t> p) override {
    ++total;
    from_input += p.data() >= input.data() && p.data() < input.data() + input.size();
    return true;
  }
  bool on_ping(std::span<const uint8_t>) override { return true; }
  bool on_pong(std::span<const uint8_t>) override { return true; }
  void on_close(uint16_t, std::string_view) override {}
};

TEST(ServerFrameReader, WholeFramesAreNotCopiedAndResetForgetsAPartialOne) {
  Bytes stream;
  add(stream, ws::Opcode::kText, "one");
  add(stream, ws::Opcode::kBinary, std::string(500, 'x'));
  ServerFrameReader reader;
  WhereFrom w;
  w.input = stream;
  ASSERT_EQ(reader.feed(stream, w).close_code, 0);
  EXPECT_EQ(w.total, 2);
  EXPECT_EQ(w.from_input, 2);
  // Half a frame, then reset: the reader is as new (for a connection's next attempt).
  ASSERT_EQ(reader.feed(std::span<const uint8_t>(stream).first(100), w).close_code, 0);
  EXPECT_GT(reader.buffered(), 0u);
  reader.reset();
  EXPECT_EQ(reader.buffered(), 0u);
  Recorder rec;
  ASSERT_EQ(reader.feed(stream, rec).close_code, 0);
  EXPECT_EQ(rec.events.size(), 2u);
  // After a failure, too.
  Bytes masked = {0x81, 0x81, 1, 2, 3, 4, 'x'};
  EXPECT_EQ(reader.feed(masked, rec).close_code, 1002);
  reader.reset();
  EXPECT_FALSE(reader.done());
  ASSERT_EQ(reader.feed(stream, rec).close_code, 0);
  EXPECT_EQ(rec.events.size(), 4u);
}

// permessage-deflate: a compressed frame as the gateway sends it.
void add_compressed(Bytes& out, ws::Deflater& d, ws::Opcode op, std::string_view text) {
  auto c = d.compress({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 15);
  uint8_t head[ws::kMaxServerHeader];
  size_t h = ws::encode_header(head, op, c.size(), true, true);
  out.insert(out.end(), head, head + h);
  out.insert(out.end(), c.begin(), c.end());
}

ws::DeflateAgreement agreed(bool server_takeover) {
  ws::DeflateAgreement a;
  a.accepted = true;
  a.server_no_context_takeover = !server_takeover;
  return a;
}

std::string json_like(size_t n) {
  std::string s;
  while (s.size() < n) s += "{\"channel\":\"room:" + std::to_string(s.size() % 97) + "\",\"é\":1}";
  return s.substr(0, n);
}

TEST(ServerFrameReader, InflatesCompressedMessagesAtEverySplitAndHoldsNoStateAfter) {
  ws::Deflater d;
  Bytes stream;
  const std::string big = json_like(200000);
  add_compressed(stream, d, ws::Opcode::kText, "hello hello hello");
  add(stream, ws::Opcode::kText, "plain");
  add_compressed(stream, d, ws::Opcode::kText, big);
  // A compressed message in three frames (RSV1 on the first only) with a ping between them.
  Bytes whole;
  add_compressed(whole, d, ws::Opcode::kBinary, json_like(5000));
  size_t h = whole[1] == 126 ? 4 : 2;
  Bytes body(whole.begin() + long(h), whole.end());
  size_t third = body.size() / 3;
  std::string part1(body.begin(), body.begin() + long(third));
  std::string part2(body.begin() + long(third), body.begin() + long(2 * third));
  std::string part3(body.begin() + long(2 * third), body.end());
  uint8_t head[ws::kMaxServerHeader];
  size_t n = ws::encode_header(head, ws::Opcode::kBinary, part1.size(), false, true);
  stream.insert(stream.end(), head, head + n);
  stream.insert(stream.end(), part1.begin(), part1.end());
  add(stream, ws::Opcode::kPing, "p");
  add(stream, ws::Opcode::kContinuation, part2, false);
  add(stream, ws::Opcode::kContinuation, part3);
  const std::vector<std::string> expected = {"text:hello hello hello", "text:plain", "text:" + big,
                                             "ping:p", "binary:" + json_like(5000)};
  for (size_t step : {size_t{1}, size_t{5}, size_t{1000}, stream.size()}) {
    ServerFrameReader reader;
    reader.set_deflate(agreed(false));
    Recorder rec;
    ASSERT_NO_FATAL_FAILURE(feed_in_steps(reader, stream, step, rec));
    EXPECT_EQ(rec.events, expected) << "step " << step;
    EXPECT_EQ(reader.buffered(), 0u);
  }
  // Without context takeover the inflater went back to the pool after each message.
  EXPECT_GE(ws::detail::pooled_inflaters(), 1u);
}

TEST(ServerFrameReader, KeepsTheInflateContextWhenTheServerKeepsItsOwn) {
  z_stream* kept = ws::Deflater::new_stream(15, 8);
  ASSERT_NE(kept, nullptr);
  ws::Deflater d;
  Bytes stream;
  const std::string msg = json_like(3000);
  for (int i = 0; i < 3; ++i) {
    auto c = d.compress_with(*kept, {reinterpret_cast<const uint8_t*>(msg.data()), msg.size()});
    uint8_t head[ws::kMaxServerHeader];
    size_t h = ws::encode_header(head, ws::Opcode::kText, c.size(), true, true);
    stream.insert(stream.end(), head, head + h);
    stream.insert(stream.end(), c.begin(), c.end());
  }
  ws::Deflater::free_stream(kept);
  ServerFrameReader reader;
  reader.set_deflate(agreed(true));
  Recorder rec;
  ASSERT_EQ(reader.feed(stream, rec).close_code, 0);
  EXPECT_EQ(rec.events, std::vector<std::string>(3, "text:" + msg));
  // The same bytes read without the kept window fail: the later messages refer back to it.
  ServerFrameReader fresh;
  fresh.set_deflate(agreed(false));
  Recorder rec2;
  EXPECT_EQ(fresh.feed(stream, rec2).close_code, 1007);
}

TEST(ServerFrameReader, CompressionViolationsFailWithTheirCloseCode) {
  ws::Deflater d;
  // A bomb: 64 MiB of zeros in under 300 KiB (zlib level 1), against a 1 MiB limit: fails at the
  // limit, having inflated no more than it.
  std::string zeros(64 << 20, '\0');
  Bytes bomb;
  add_compressed(bomb, d, ws::Opcode::kBinary, zeros);
  zeros = {};
  ASSERT_LT(bomb.size(), 300000u);
  ServerFrameReader reader(1 << 20);
  reader.set_deflate(agreed(false));
  Recorder rec;
  ReadFailure f = reader.feed(bomb, rec);
  EXPECT_EQ(f.close_code, 1009) << f.what;
  EXPECT_TRUE(rec.events.empty());

  Bytes garbage = {0xc2, 0x04, 0xff, 0xff, 0xff, 0xff};  // RSV1 binary, not deflate data
  Bytes bad_text;
  add_compressed(bad_text, d, ws::Opcode::kText, "ok\xc3\x28");
  Bytes continuation;  // RSV1 on a continuation frame
  add_compressed(continuation, d, ws::Opcode::kText, "abc");
  continuation[0] &= 0x7f;  // not FIN
  continuation.insert(continuation.end(), {0xc0, 0x00});
  Bytes control = {0xc9, 0x00};  // RSV1 on a ping
  for (auto [name, bytes, code] : {std::tuple{"invalid data", garbage, 1007},
                                   std::tuple{"invalid UTF-8 inside", bad_text, 1007},
                                   std::tuple{"rsv1 continuation", continuation, 1002},
                                   std::tuple{"rsv1 ping", control, 1002}}) {
    ServerFrameReader r;
    r.set_deflate(agreed(false));
    Recorder events;
    EXPECT_EQ(r.feed(bytes, events).close_code, code) << name;
  }
  // Compressed frames without a negotiated extension are a protocol error.
  Bytes good;
  add_compressed(good, d, ws::Opcode::kText, "hello");
  ServerFrameReader plain;
  EXPECT_EQ(plain.feed(good, rec).close_code, 1002);
}

TEST(ClientFrames, CompressedFramesAreWhatTheGatewayInflates) {
  ws::Deflater d;
  const std::string text = json_like(10000);
  auto c = d.compress({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 15);
  ByteBuffer out;
  ASSERT_TRUE(append_frame(out, ws::Opcode::kText, c, 0x01020304u, true));
  EXPECT_EQ(out.data()[0], 0xc1);
  ws::MessageReader reader(1 << 20);
  reader.set_deflate(true);
  ServerSide s;
  ws::ReadResult r = reader.feed(out.span(), s);
  ASSERT_EQ(r.close_code, 0) << r.reason;
  ASSERT_EQ(s.messages.size(), 1u);
  EXPECT_EQ(s.messages[0].second, text);
}

TEST(ClientFrames, MaskIsAnInvolutionAndHeadersAreMinimal) {
  Bytes data(1031), copy;
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  copy = data;
  mask_bytes(copy.data(), copy.size(), 0xdeadbeefu);
  EXPECT_NE(copy, data);
  mask_bytes(copy.data(), copy.size(), 0xdeadbeefu);
  EXPECT_EQ(copy, data);
  for (uint64_t n : {0u, 125u, 126u, 65535u, 65536u}) {
    uint8_t head[kMaxClientHeader];
    EXPECT_EQ(encode_client_header(head, ws::Opcode::kBinary, n, 1), client_header_size(n)) << n;
  }
}

}  // namespace
}  // namespace ringway::client
