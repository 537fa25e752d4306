#include "ws/deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "test_frames.h"
#include "ws/message_reader.h"

namespace ringway::ws {
namespace {

using namespace test;

constexpr uint8_t kRsv1 = 4;  // FrameSpec::rsv's bits, RSV1 first

// Raw deflate as a client would send it: sync-flushed with the 00 00 ff ff tail cut, or (final)
// ending with a final block.
Bytes client_deflate(const Bytes& in, bool final = false, int level = 6) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&z, in.size()) + 64);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&z, final ? Z_FINISH : Z_SYNC_FLUSH), final ? Z_STREAM_END : Z_OK);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (!final) {
    EXPECT_GE(out.size(), 4u);
    out.resize(out.size() - 4);
  }
  return out;
}

Bytes raw_inflate(std::span<const uint8_t> in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -15), Z_OK);
  Bytes src(in.begin(), in.end());
  src.insert(src.end(), kDeflateTail, kDeflateTail + 4);
  Bytes out(1 << 21);
  z.next_in = src.data();
  z.avail_in = uInt(src.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  int r = inflate(&z, Z_SYNC_FLUSH);
  EXPECT_TRUE(r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR) << r;
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

Bytes json_like(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i)
    s += "{\"device\":\"sensor-" + std::to_string(i % 97) + "\",\"t\":" + std::to_string(i) + "},";
  s.resize(n);
  return bytes_of(s);
}

TEST(Deflater, RoundTripsEveryWindowAndSize) {
  Deflater d;
  for (uint8_t bits = 9; bits <= 15; ++bits) {
    for (size_t n : {size_t(0), size_t(1), size_t(300), size_t(70000), size_t(1) << 20}) {
      Bytes in = n > 1000 && bits == 12 ? random_bytes(n, n) : json_like(n);
      std::span<const uint8_t> z = d.compress(in, bits);
      ASSERT_FALSE(z.empty() && n) << n;
      EXPECT_EQ(raw_inflate(z), in) << "bits " << int(bits) << " n " << n;
    }
  }
  EXPECT_EQ(d.streams(), 7u);
  EXPECT_TRUE(d.compress(json_like(10), 8).empty());  // no 8-bit window
}

TEST(Deflater, OutputHasNoFinalBlockAndNoTail) {
  Deflater d;
  Bytes in = json_like(5000);
  std::span<const uint8_t> z = d.compress(in, 15);
  ASSERT_GE(z.size(), 4u);
  EXPECT_FALSE(z[z.size() - 4] == 0 && z[z.size() - 3] == 0 && z[z.size() - 2] == 0xff &&
               z[z.size() - 1] == 0xff);
  // Each message stands alone: the same input compresses the same way twice.
  Bytes first(z.begin(), z.end());
  std::span<const uint8_t> again = d.compress(in, 15);
  EXPECT_EQ(Bytes(again.begin(), again.end()), first);
  EXPECT_LT(first.size(), in.size() / 3);
}

TEST(Inflate, BoundedOutput) {
  Bytes zeros(size_t(64) << 20, 0);
  Bytes bomb = client_deflate(zeros, false, 9);
  EXPECT_LT(bomb.size(), 100u * 1024);
  detail::InflateState* s = detail::acquire_inflater();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(inflate_append(*s, bomb.data(), bomb.size(), 65536, nullptr), InflateStatus::kTooBig);
  // Stopped one byte past the limit: no more was inflated (or allocated) than that.
  EXPECT_EQ(s->out.size(), 65537u);
  EXPECT_LE(s->out.capacity(), 2u * 65537);
  detail::release_inflater(s);
}

TEST(Inflate, InvalidDataAndUtf8) {
  detail::InflateState* s = detail::acquire_inflater();
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x00};
  EXPECT_EQ(inflate_append(*s, junk, sizeof junk, 1 << 20, nullptr), InflateStatus::kInvalidData);
  detail::release_inflater(s);
  s = detail::acquire_inflater();
  EXPECT_TRUE(s->out.empty());
  Bytes bad = client_deflate(bytes_of("ok \xc3\x28 not utf-8"));
  Utf8Validator utf8;
  EXPECT_EQ(inflate_append(*s, bad.data(), bad.size(), 1 << 20, &utf8), InflateStatus::kInvalidUtf8);
  detail::release_inflater(s);
}

TEST(Inflate, PoolKeepsStatesBetweenMessagesNotConnections) {
  detail::drain_inflater_pool();
  detail::InflateState* a = detail::acquire_inflater();
  detail::InflateState* b = detail::acquire_inflater();
  detail::release_inflater(a);
  detail::release_inflater(b);
  EXPECT_EQ(detail::pooled_inflaters(), 2u);
  detail::drain_inflater_pool();
  EXPECT_EQ(detail::pooled_inflaters(), 0u);
}

// --- the reader with permessage-deflate -----------------------------------------------------

Bytes compressed_frame(Opcode op, const Bytes& payload, bool final = false) {
  return frame(op, client_deflate(payload, final), {.rsv = kRsv1});
}

class CompressedSizeTest : public ::testing::TestWithParam<size_t> {};

TEST_P(CompressedSizeTest, TextAndBinaryInEverySplit) {
  Bytes text = mixed_text(GetParam());
  expect_same_in_every_split(compressed_frame(Opcode::kText, text),
                             {{message(Opcode::kText, text)}, 0, ""}, kDefaultMaxMessageSize, true);
  Bytes bin = random_bytes(GetParam(), 5);
  expect_same_in_every_split(compressed_frame(Opcode::kBinary, bin),
                             {{message(Opcode::kBinary, bin)}, 0, ""}, kDefaultMaxMessageSize, true);
}

INSTANTIATE_TEST_SUITE_P(Lengths, CompressedSizeTest, ::testing::Values(0, 1, 125, 300, 5000));

TEST(DeflateReader, LargeMessagesAndFinalBlocks) {
  for (size_t n : {size_t(70000), size_t(1) << 20}) {
    Bytes text = json_like(n);
    EXPECT_EQ(run_whole(compressed_frame(Opcode::kText, text), kDefaultMaxMessageSize, true),
              (Outcome{{message(Opcode::kText, text)}, 0, ""}));
    EXPECT_EQ(run_whole(compressed_frame(Opcode::kText, text, true), kDefaultMaxMessageSize, true),
              (Outcome{{message(Opcode::kText, text)}, 0, ""}));
  }
}

TEST(DeflateReader, FragmentedWithInterleavedPings) {
  Bytes text = json_like(20000);
  Bytes z = client_deflate(text);
  size_t third = z.size() / 3;
  Bytes a(z.begin(), z.begin() + third), b(z.begin() + third, z.begin() + 2 * third),
      c(z.begin() + 2 * third, z.end());
  Bytes stream = concat({frame(Opcode::kText, a, {.fin = false, .rsv = kRsv1}),
                         frame(Opcode::kPing, bytes_of("p1")),
                         frame(Opcode::kContinuation, b, {.fin = false}),
                         frame(Opcode::kPing, bytes_of("p2")), frame(Opcode::kContinuation, c),
                         compressed_frame(Opcode::kBinary, text)});
  expect_same_in_every_split(
      stream,
      {{ping(bytes_of("p1")), ping(bytes_of("p2")), message(Opcode::kText, text),
        message(Opcode::kBinary, text)},
       0, ""},
      kDefaultMaxMessageSize, true);
}

TEST(DeflateReader, ReaderIsIdleBetweenCompressedMessages) {
  MessageReader reader;
  reader.set_deflate(true);
  Recorder sink;
  Bytes text = json_like(3000);
  Bytes f = compressed_frame(Opcode::kText, text);
  ASSERT_EQ(reader.feed({f.data(), f.size() / 2}, sink).close_code, 0);
  EXPECT_FALSE(reader.idle());  // the inflater is borrowed while the message arrives
  ASSERT_EQ(reader.feed({f.data() + f.size() / 2, f.size() - f.size() / 2}, sink).close_code, 0);
  EXPECT_TRUE(reader.idle());
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].payload, text);
}

TEST(DeflateReader, BombClosed1009AtTheLimit) {
  Bytes zeros(size_t(16) << 20, 'a');
  Bytes stream = compressed_frame(Opcode::kText, zeros);
  Outcome o = run_whole(stream, 1 << 20, true);
  EXPECT_EQ(o.code, k1009);
  EXPECT_EQ(o.reason, kReasonInflatedTooBig);
  EXPECT_TRUE(o.events.empty());
  // Just at the limit is fine.
  Bytes exact(size_t(1) << 20, 'a');
  EXPECT_EQ(run_whole(compressed_frame(Opcode::kText, exact), 1 << 20, true).code, 0);
}

TEST(DeflateReader, InvalidDataClosed1007) {
  Bytes junk = {0xff, 0xff, 0xff, 0xff, 0x12, 0x34};
  Outcome o = run_whole(frame(Opcode::kText, junk, {.rsv = kRsv1}), kDefaultMaxMessageSize, true);
  EXPECT_EQ(o.code, k1007);
  EXPECT_EQ(o.reason, kReasonInvalidDeflate);
  Bytes bad = client_deflate(bytes_of("\xff\xfe text"));
  EXPECT_EQ(run_whole(frame(Opcode::kText, bad, {.rsv = kRsv1}), kDefaultMaxMessageSize, true).code,
            k1007);
}

TEST(DeflateReader, ReservedBitRules) {
  Bytes z = client_deflate(bytes_of("hello"));
  // RSV1 without negotiation.
  EXPECT_EQ(run_whole(frame(Opcode::kText, z, {.rsv = kRsv1})).code, k1002);
  // RSV1 on a continuation frame.
  Bytes stream = concat({frame(Opcode::kText, bytes_of("he"), {.fin = false}),
                         frame(Opcode::kContinuation, bytes_of("llo"), {.rsv = kRsv1})});
  Outcome o = run_whole(stream, kDefaultMaxMessageSize, true);
  EXPECT_EQ(o.code, k1002);
  EXPECT_EQ(o.reason, "RSV1 on a continuation frame");
  // RSV1 on a control frame, RSV2 and RSV3 on anything.
  EXPECT_EQ(run_whole(frame(Opcode::kPing, {}, {.rsv = kRsv1}), kDefaultMaxMessageSize, true).code,
            k1002);
  EXPECT_EQ(run_whole(frame(Opcode::kText, z, {.rsv = 2}), kDefaultMaxMessageSize, true).code, k1002);
  EXPECT_EQ(run_whole(frame(Opcode::kText, z, {.rsv = 5}), kDefaultMaxMessageSize, true).code, k1002);
  // An uncompressed message still works with deflate negotiated.
  EXPECT_EQ(run_whole(frame(Opcode::kText, bytes_of("plain")), kDefaultMaxMessageSize, true),
            (Outcome{{message(Opcode::kText, bytes_of("plain"))}, 0, ""}));
}

TEST(DeflateReader, CompressedFrameLengthIsBoundedToo) {
  // A compressed frame far longer than the limit fails from its header.
  Bytes big(2300, 0);
  Outcome o = run_whole(frame(Opcode::kBinary, big, {.rsv = kRsv1}), 1000, true);
  EXPECT_EQ(o.code, k1009);
}

}  // namespace
}  // namespace ringway::ws

namespace ringway::ws {
namespace {

using namespace test;

// Context takeover: the server's kept stream refers back to earlier messages, so later ones
// shrink, and they inflate only with the window kept from the earlier ones.
TEST(DeflateTakeover, KeptStreamRefersToEarlierMessages) {
  Deflater d;
  z_stream* kept = Deflater::new_stream(kTakeoverWindowBits, kTakeoverMemLevel);
  ASSERT_NE(kept, nullptr);
  z_stream in{};
  ASSERT_EQ(inflateInit2(&in, -15), Z_OK);
  Bytes msg = json_like(600);
  size_t first = 0, last = 0;
  for (int i = 0; i < 5; ++i) {
    std::span<const uint8_t> z = d.compress_with(*kept, msg);
    ASSERT_FALSE(z.empty());
    (i == 0 ? first : last) = z.size();
    Bytes src(z.begin(), z.end());
    src.insert(src.end(), kDeflateTail, kDeflateTail + 4);
    Bytes out(4096);
    in.next_in = src.data();
    in.avail_in = uInt(src.size());
    in.next_out = out.data();
    in.avail_out = uInt(out.size());
    ASSERT_EQ(inflate(&in, Z_SYNC_FLUSH), Z_OK);
    out.resize(out.size() - in.avail_out);
    EXPECT_EQ(out, msg) << i;
  }
  EXPECT_LT(last * 4, first);  // a repeat is a few bytes of back-reference
  inflateEnd(&in);
  Deflater::free_stream(kept);
}

TEST(DeflateTakeover, ReaderKeepsTheClientsWindow) {
  // The client compresses two messages with one stream (no reset between them).
  Deflater d;
  z_stream* c = Deflater::new_stream(15, 8);
  ASSERT_NE(c, nullptr);
  Bytes msg = json_like(2000);
  Bytes stream;
  for (int i = 0; i < 2; ++i) {
    std::span<const uint8_t> z = d.compress_with(*c, msg);
    add_frame(stream, Opcode::kText, Bytes(z.begin(), z.end()), {.rsv = 4});
  }
  Deflater::free_stream(c);
  Outcome both = {{message(Opcode::kText, msg), message(Opcode::kText, msg)}, 0, ""};
  MessageReader reader;
  reader.set_deflate(true);
  ASSERT_TRUE(reader.set_takeover(true, nullptr));
  Recorder sink;
  ASSERT_EQ(reader.feed(stream, sink).close_code, 0);
  EXPECT_EQ(sink.events, both.events);
  EXPECT_FALSE(reader.idle());  // the window is kept
  // Without takeover the second message cannot be read (it refers to the first one's bytes).
  EXPECT_NE(run_whole(stream, kDefaultMaxMessageSize, true), both);
}

}  // namespace
}  // namespace ringway::ws
