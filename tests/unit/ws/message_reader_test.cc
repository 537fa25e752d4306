#include "ws/message_reader.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include "test_frames.h"
#include "ws/frame_context_pool.h"

namespace ringway::ws {
namespace {

using namespace test;


Outcome ok(std::vector<Event> events) { return {std::move(events), 0, ""}; }
Outcome failed(std::vector<Event> events, uint16_t code, std::string reason) {
  return {std::move(events), code, std::move(reason)};
}

// --- sizes -----------------------------------------------------------------------------------

class SizeTest : public ::testing::TestWithParam<size_t> {};

TEST_P(SizeTest, TextMessageInEverySplit) {
  Bytes payload = mixed_text(GetParam());
  expect_same_in_every_split(frame(Opcode::kText, payload), ok({message(Opcode::kText, payload)}));
}

TEST_P(SizeTest, BinaryMessageInEverySplit) {
  Bytes payload = random_bytes(GetParam(), GetParam());
  expect_same_in_every_split(frame(Opcode::kBinary, payload),
                             ok({message(Opcode::kBinary, payload)}));
}

TEST_P(SizeTest, BackToBackMessagesInEverySplit) {
  // Two frames per stream so frame boundaries fall inside wslay's buffer, not only at its ends.
  Bytes a = mixed_text(GetParam());
  Bytes b = random_bytes(GetParam() / 2 + 1, 3);
  expect_same_in_every_split(concat({frame(Opcode::kText, a), frame(Opcode::kBinary, b)}),
                             ok({message(Opcode::kText, a), message(Opcode::kBinary, b)}));
}

INSTANTIATE_TEST_SUITE_P(Lengths, SizeTest,
                         ::testing::Values(0, 1, 125, 126, 127, 128, 4000, 4096, 65535, 65536));

TEST(MessageReader, OneMebibyteTextAndBinary) {
  for (Opcode op : {Opcode::kText, Opcode::kBinary}) {
    Bytes payload = op == Opcode::kText ? mixed_text(1 << 20) : random_bytes(1 << 20, 11);
    Bytes stream = frame(op, payload);
    Outcome expected = ok({message(op, payload)});
    EXPECT_EQ(run_whole(stream), expected);
    EXPECT_EQ(run_bytewise(stream), expected);
    for (size_t cut : {size_t{1}, size_t{10}, size_t{14}, size_t{15}, size_t{4096}, size_t{4110},
                       stream.size() / 2, stream.size() - 1}) {
      EXPECT_EQ(run_cuts(stream, {cut}), expected) << cut;
    }
  }
}

TEST(MessageReader, ManySmallFramesInOneFeed) {
  Bytes stream;
  std::vector<Event> expected;
  for (int i = 0; i < 500; ++i) {
    Bytes p = random_bytes(i % 40, i);
    add_frame(stream, Opcode::kBinary, p);
    expected.push_back(message(Opcode::kBinary, p));
  }
  expect_same_in_every_split(stream, ok(expected));
}

// --- fragmentation -----------------------------------------------------------------------------

TEST(MessageReader, FragmentsWithInterleavedControlFrames) {
  Bytes stream = concat({
      frame(Opcode::kText, bytes_of("Hel"), {.fin = false}),
      frame(Opcode::kPing, bytes_of("p1")),
      frame(Opcode::kContinuation, bytes_of("lo \xe2\x82"), {.fin = false}),  // € split
      frame(Opcode::kPong, {}),
      frame(Opcode::kContinuation, {}, {.fin = false}),
      frame(Opcode::kContinuation, bytes_of("\xac!"), {.fin = true}),
      frame(Opcode::kBinary, {1, 2, 3}, {.fin = false}),
      frame(Opcode::kPing, Bytes(125, 'x')),
      frame(Opcode::kContinuation, Bytes(300, 7)),
  });
  Bytes bin{1, 2, 3};
  bin.insert(bin.end(), 300, 7);
  expect_same_in_every_split(stream, ok({ping(bytes_of("p1")), pong({}),
                                         message(Opcode::kText, bytes_of("Hello \xe2\x82\xac!")),
                                         ping(Bytes(125, 'x')), message(Opcode::kBinary, bin)}));
}

TEST(MessageReader, LargeFragmentedMessage) {
  Bytes payload = mixed_text(70000);
  Bytes stream;
  for (size_t off = 0; off < payload.size(); off += 7000) {
    Bytes part(payload.begin() + off, payload.begin() + std::min(payload.size(), off + 7000));
    Opcode op = off == 0 ? Opcode::kText : Opcode::kContinuation;
    add_frame(stream, op, part, {.fin = off + 7000 >= payload.size()});
    if (off == 14000) add_frame(stream, Opcode::kPing, bytes_of("mid"));
  }
  expect_same_in_every_split(stream,
                             ok({ping(bytes_of("mid")), message(Opcode::kText, payload)}));
}

// --- 1002 --------------------------------------------------------------------------------------

// Each violation follows a valid message (delivered first) and precedes one that must be ignored.
void expect_protocol_error(const Bytes& bad, const std::string& reason) {
  Bytes good = bytes_of("ok");
  Bytes stream = concat({frame(Opcode::kText, good), bad, frame(Opcode::kText, good)});
  expect_same_in_every_split(stream, failed({message(Opcode::kText, good)}, k1002, reason));
}

TEST(ProtocolError, ReservedBits) {
  for (uint8_t rsv : {1, 2, 4, 7}) {
    SCOPED_TRACE(int(rsv));
    expect_protocol_error(frame(Opcode::kText, bytes_of("x"), {.rsv = rsv}), "reserved bits set");
    expect_protocol_error(frame(Opcode::kBinary, Bytes(300, 1), {.rsv = rsv}), "reserved bits set");
    expect_protocol_error(frame(Opcode::kPing, {}, {.rsv = rsv}), "reserved bits set");
  }
}

TEST(ProtocolError, ReservedOpcodes) {
  for (uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    SCOPED_TRACE(int(op));
    Bytes f;
    add_frame(f, op, bytes_of("abc"));
    expect_protocol_error(f, "reserved opcode");
  }
}

TEST(ProtocolError, UnmaskedFrames) {
  expect_protocol_error(frame(Opcode::kText, bytes_of("hi"), {.masked = false}), "unmasked frame");
  expect_protocol_error(frame(Opcode::kBinary, {}, {.masked = false}), "unmasked frame");
  expect_protocol_error(frame(Opcode::kPing, bytes_of("p"), {.masked = false}), "unmasked frame");
  expect_protocol_error(frame(Opcode::kBinary, Bytes(70000, 0), {.masked = false}),
                        "unmasked frame");
}

TEST(ProtocolError, ControlFrameOver125) {
  // Encoded with the 16-bit length, which is the only way to declare 126+; wslay rejects it.
  expect_protocol_error(frame(Opcode::kPing, Bytes(126, 'p')), "protocol error");
  expect_protocol_error(frame(Opcode::kClose, close_payload(1000, std::string(200, 'r'))),
                        "protocol error");
}

TEST(ProtocolError, FragmentedControlFrame) {
  expect_protocol_error(frame(Opcode::kPing, bytes_of("p"), {.fin = false}), "protocol error");
  expect_protocol_error(frame(Opcode::kClose, {}, {.fin = false}), "protocol error");
}

TEST(ProtocolError, ContinuationWithoutMessage) {
  expect_protocol_error(frame(Opcode::kContinuation, bytes_of("x")), "unexpected continuation");
  expect_protocol_error(frame(Opcode::kContinuation, {}, {.fin = false}), "unexpected continuation");
}

TEST(ProtocolError, NewDataFrameInsideFragmentedMessage) {
  for (Opcode op : {Opcode::kText, Opcode::kBinary}) {
    Bytes bad = concat({frame(Opcode::kBinary, bytes_of("a"), {.fin = false}),
                        frame(Opcode::kPing, {}), frame(op, bytes_of("b"))});
    Bytes good = bytes_of("ok");
    Bytes stream = concat({frame(Opcode::kText, good), bad});
    expect_same_in_every_split(
        stream, failed({message(Opcode::kText, good), ping({})}, k1002, "expected continuation"));
  }
}

TEST(ProtocolError, NonMinimalLengths) {
  // 5 bytes declared with the 16-bit form, 200 bytes with the 64-bit form.
  Bytes a{0x82, 0x80 | 126, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
  Bytes b{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200, 1, 2, 3, 4};
  b.insert(b.end(), 200, 'x');
  expect_protocol_error(a, "protocol error");
  expect_protocol_error(b, "protocol error");
}

TEST(ProtocolError, LengthWithTopBitSet) {
  Bytes bad{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 'x'};
  expect_protocol_error(bad, "protocol error");
}

// --- 1007 --------------------------------------------------------------------------------------

TEST(InvalidUtf8, UnfragmentedText) {
  for (std::string_view bad : {"\xc0\xaf", "ab\xed\xa0\x80z", "\xf4\x90\x80\x80", "\xff", "\x80"}) {
    Bytes stream = concat({frame(Opcode::kText, bytes_of(bad)), frame(Opcode::kText, bytes_of("x"))});
    expect_same_in_every_split(stream, failed({}, k1007, "invalid utf-8"));
  }
}

TEST(InvalidUtf8, IncompleteSequenceAtMessageEnd) {
  expect_same_in_every_split(frame(Opcode::kText, bytes_of("abc\xe2\x82")),
                             failed({}, k1007, "invalid utf-8"));
  Bytes stream = concat({frame(Opcode::kText, bytes_of("abc\xf0\x9d"), {.fin = false}),
                         frame(Opcode::kContinuation, bytes_of("\x84"), {.fin = true})});
  expect_same_in_every_split(stream, failed({}, k1007, "invalid utf-8"));
}

TEST(InvalidUtf8, BinaryIsNotChecked) {
  Bytes payload = bytes_of("\xc0\xaf\xff");
  expect_same_in_every_split(frame(Opcode::kBinary, payload),
                             ok({message(Opcode::kBinary, payload)}));
}

TEST(InvalidUtf8, FailsFastInFirstOfThreeFragments) {
  Bytes first = frame(Opcode::kText, bytes_of("hello \xed\xa0\x80 world"), {.fin = false});
  Bytes second = frame(Opcode::kContinuation, bytes_of("more"), {.fin = false});
  Bytes third = frame(Opcode::kContinuation, bytes_of("end"), {.fin = true});
  MessageReader reader;
  Recorder sink;
  ReadResult r = reader.feed(first, sink);
  EXPECT_EQ(r.close_code, k1007) << "must fail before the later fragments arrive";
  EXPECT_TRUE(reader.idle());
  EXPECT_EQ(reader.feed(second, sink).close_code, 0);
  EXPECT_EQ(reader.feed(third, sink).close_code, 0);
  EXPECT_TRUE(sink.events.empty());
  expect_same_in_every_split(concat({first, second, third}), failed({}, k1007, "invalid utf-8"));
}

TEST(InvalidUtf8, FailsAtTheBadByteWhenFedBytewise) {
  // With one byte per feed, the feed that carries the bad byte is the one that fails.
  std::string_view good = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e ok \xe0";
  Bytes payload = concat({bytes_of(good), bytes_of("\x9f\x80 never")});  // E0 9F is an overlong
  Bytes stream = frame(Opcode::kText, payload, {.fin = false});
  size_t bad = stream.size() - payload.size() + good.size();
  MessageReader reader;
  Recorder sink;
  for (size_t i = 0; i < stream.size(); ++i) {
    ReadResult r = reader.feed({stream.data() + i, 1}, sink);
    if (i < bad) {
      ASSERT_EQ(r.close_code, 0) << i;
    } else if (i == bad) {
      ASSERT_EQ(r.close_code, k1007) << i;
    }
  }
}

TEST(InvalidUtf8, CloseReason) {
  Bytes stream = frame(Opcode::kClose, close_payload(1000, "bye \xc3"));
  expect_same_in_every_split(stream, failed({}, k1007, "invalid utf-8"));
  stream = frame(Opcode::kClose, close_payload(1001, "\xed\xbf\xbf"));
  expect_same_in_every_split(stream, failed({}, k1007, "invalid utf-8"));
}

// --- 1009 --------------------------------------------------------------------------------------

size_t heap_in_use() { return mallinfo2().uordblks; }

TEST(MessageTooBig, HeaderDeclaring2To62IsRejectedBeforePayload) {
  Bytes header{0x82, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  MessageReader reader;
  Recorder sink;
  // Warm the pool so the reader's context comes from it and any allocation would be the reader's.
  {
    MessageReader warm;
    Recorder warm_sink;
    warm.feed(frame(Opcode::kPing, {}), warm_sink);
  }
  size_t heap_before = heap_in_use();
  ReadResult r = reader.feed(header, sink);
  EXPECT_EQ(r.close_code, k1009);
  EXPECT_STREQ(r.reason, "message too big");
  EXPECT_TRUE(reader.idle());
  EXPECT_LE(heap_in_use(), heap_before);
  EXPECT_TRUE(sink.events.empty());
}

TEST(MessageTooBig, DecidedAsSoonAsTheLengthIsKnown) {
  // Byte by byte, the feed that completes the 64-bit length fails, before the mask key.
  Bytes header{0x82, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  MessageReader reader;
  Recorder sink;
  for (size_t i = 0; i < header.size(); ++i) {
    ReadResult r = reader.feed({header.data() + i, 1}, sink);
    if (i < 9) {
      ASSERT_EQ(r.close_code, 0) << i;
      ASSERT_FALSE(reader.idle());
    } else if (i == 9) {
      ASSERT_EQ(r.close_code, k1009);
      ASSERT_TRUE(reader.idle());
    }
  }
  Bytes with_payload = header;
  with_payload.insert(with_payload.end(), 5000, 'x');
  expect_same_in_every_split(with_payload, failed({}, k1009, "message too big"));
}

TEST(MessageTooBig, SingleFrameAtAndOverTheLimit) {
  constexpr size_t kMax = 1000;
  Bytes at = random_bytes(kMax, 1);
  expect_same_in_every_split(frame(Opcode::kBinary, at), ok({message(Opcode::kBinary, at)}), kMax);
  Bytes over = random_bytes(kMax + 1, 1);
  expect_same_in_every_split(frame(Opcode::kBinary, over), failed({}, k1009, "message too big"),
                             kMax);
  EXPECT_EQ(run_whole(frame(Opcode::kBinary, mixed_text(kDefaultMaxMessageSize + 1))).code, k1009);
}

TEST(MessageTooBig, FragmentsSummingPastTheLimit) {
  constexpr size_t kMax = 1000;
  Bytes a = random_bytes(600, 1);
  Bytes b = random_bytes(400, 2);
  Bytes exact = concat({frame(Opcode::kBinary, a, {.fin = false}), frame(Opcode::kPing, {}),
                        frame(Opcode::kContinuation, b)});
  expect_same_in_every_split(exact, ok({ping({}), message(Opcode::kBinary, concat({a, b}))}), kMax);
  Bytes c = random_bytes(401, 3);
  Bytes over = concat({frame(Opcode::kBinary, a, {.fin = false}), frame(Opcode::kPing, {}),
                       frame(Opcode::kContinuation, c)});
  expect_same_in_every_split(over, failed({ping({})}, k1009, "message too big"), kMax);
  // Many empty-ish fragments add up too.
  Bytes many = frame(Opcode::kText, {}, {.fin = false});
  for (int i = 0; i < 11; ++i) add_frame(many, Opcode::kContinuation, Bytes(100, 'a'), {.fin = false});
  expect_same_in_every_split(many, failed({}, k1009, "message too big"), kMax);
}

TEST(MessageTooBig, ControlFramesDoNotCountTowardsTheMessage) {
  constexpr size_t kMax = 10;
  Bytes stream = concat({frame(Opcode::kText, bytes_of("01234"), {.fin = false}),
                         frame(Opcode::kPing, Bytes(100, 'p')),
                         frame(Opcode::kContinuation, bytes_of("56789"))});
  expect_same_in_every_split(stream, ok({ping(Bytes(100, 'p')),
                                         message(Opcode::kText, bytes_of("0123456789"))}),
                             kMax);
}

// --- close -------------------------------------------------------------------------------------

TEST(Close, WithCodeAndReason) {
  Bytes stream = concat({frame(Opcode::kClose, close_payload(1001, "going \xe2\x82\xac")),
                         frame(Opcode::kText, bytes_of("ignored"))});
  expect_same_in_every_split(stream, ok({closed(1001, bytes_of("going \xe2\x82\xac"))}));
}

TEST(Close, WithoutPayload) {
  Bytes stream = concat({frame(Opcode::kText, bytes_of("a")), frame(Opcode::kClose, {}),
                         frame(Opcode::kPing, {})});
  expect_same_in_every_split(stream, ok({message(Opcode::kText, bytes_of("a")), closed(0)}));
}

TEST(Close, MaximalReason) {
  std::string reason(123, 'r');
  expect_same_in_every_split(frame(Opcode::kClose, close_payload(4999, reason)),
                             ok({closed(4999, bytes_of(reason))}));
}

TEST(Close, OneBytePayloadIsProtocolError) {
  expect_protocol_error(frame(Opcode::kClose, {0x03}), "bad close payload");
}

TEST(Close, InvalidCodes) {
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    SCOPED_TRACE(code);
    expect_protocol_error(frame(Opcode::kClose, close_payload(code)), "invalid close code");
  }
}

TEST(Close, ValidCodes) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 4000, 4999}) {
    SCOPED_TRACE(code);
    EXPECT_EQ(run_whole(frame(Opcode::kClose, close_payload(code, "r"))),
              ok({closed(code, bytes_of("r"))}));
  }
}

TEST(Close, InsideFragmentedMessageEndsIt) {
  Bytes stream = concat({frame(Opcode::kText, bytes_of("part"), {.fin = false}),
                         frame(Opcode::kClose, close_payload(1000)),
                         frame(Opcode::kContinuation, bytes_of("rest"))});
  expect_same_in_every_split(stream, ok({closed(1000)}));
}

// --- memory ------------------------------------------------------------------------------------

TEST(Memory, IdleBetweenFramesNotMidFrame) {
  MessageReader reader;
  Recorder sink;
  EXPECT_TRUE(reader.idle());
  Bytes small = frame(Opcode::kText, bytes_of("hello"));
  EXPECT_EQ(reader.feed(small, sink).close_code, 0);
  EXPECT_TRUE(reader.idle()) << "after a complete frame";

  Bytes big = frame(Opcode::kBinary, random_bytes(10000, 1));
  EXPECT_EQ(reader.feed({big.data(), 1}, sink).close_code, 0);
  EXPECT_FALSE(reader.idle()) << "mid-header";
  EXPECT_EQ(reader.feed({big.data() + 1, 5000}, sink).close_code, 0);
  EXPECT_FALSE(reader.idle()) << "mid-payload";
  EXPECT_EQ(reader.feed({big.data() + 5001, big.size() - 5001}, sink).close_code, 0);
  EXPECT_TRUE(reader.idle()) << "after the frame completed";

  Bytes frag = frame(Opcode::kText, bytes_of("a"), {.fin = false});
  EXPECT_EQ(reader.feed(frag, sink).close_code, 0);
  EXPECT_FALSE(reader.idle()) << "between fragments the partial message is held";
  Bytes end = frame(Opcode::kContinuation, bytes_of("b"));
  EXPECT_EQ(reader.feed(end, sink).close_code, 0);
  EXPECT_TRUE(reader.idle());

  // Frame complete but the next frame's first bytes arrived with it.
  Bytes two = concat({small, small});
  EXPECT_EQ(reader.feed({two.data(), small.size() + 1}, sink).close_code, 0);
  EXPECT_FALSE(reader.idle());
  EXPECT_EQ(reader.feed({two.data() + small.size() + 1, small.size() - 1}, sink).close_code, 0);
  EXPECT_TRUE(reader.idle());
  EXPECT_EQ(sink.events.size(), 5u);
}

// A whole small message in one feed is handed over from wslay's buffer: nothing is allocated.
TEST(Memory, WholeMessageIsDeliveredWithoutCopy) {
  struct HeapSink : Recorder {
    size_t heap_at_delivery = 0;
    void on_message(Opcode op, std::span<const uint8_t> p) override {
      heap_at_delivery = heap_in_use();
      Recorder::on_message(op, p);
    }
  };
  Bytes f = frame(Opcode::kText, mixed_text(3000));
  HeapSink sink;
  sink.events.reserve(4);
  {
    MessageReader warm;  // puts a context in the pool
    warm.feed(f, sink);
  }
  MessageReader reader;
  size_t before = heap_in_use();
  EXPECT_EQ(reader.feed(f, sink).close_code, 0);
  EXPECT_EQ(sink.heap_at_delivery, before);
  EXPECT_EQ(sink.events.size(), 2u);
}

TEST(Memory, ReaderIsSmall) {
  std::printf("sizeof(MessageReader) = %zu\n", sizeof(MessageReader));
  // 80 before permessage-deflate, which added the pointer to an inflater borrowed while a
  // compressed message arrives.
  EXPECT_LE(sizeof(MessageReader), 88u);
}

TEST(Memory, MovedReaderKeepsItsFrame) {
  Bytes f = frame(Opcode::kText, bytes_of("moved along"));
  MessageReader a;
  Recorder sink;
  EXPECT_EQ(a.feed({f.data(), 8}, sink).close_code, 0);
  MessageReader b(std::move(a));
  EXPECT_TRUE(a.idle());
  EXPECT_EQ(b.feed({f.data() + 8, f.size() - 8}, sink).close_code, 0);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0], message(Opcode::kText, bytes_of("moved along")));
  EXPECT_EQ(a.feed(f, sink).close_code, 0);  // a moved-from reader ignores input
  EXPECT_EQ(sink.events.size(), 1u);
  MessageReader c(64);
  c = std::move(b);
  EXPECT_EQ(c.max_message_size(), kDefaultMaxMessageSize);
  EXPECT_EQ(c.feed(f, sink).close_code, 0);
  EXPECT_EQ(sink.events.size(), 2u);
}

TEST(Memory, MaxMessageSizeIsKept) {
  EXPECT_EQ(MessageReader().max_message_size(), kDefaultMaxMessageSize);
  EXPECT_EQ(MessageReader(4096).max_message_size(), 4096u);
}

// A sink that feeds a second reader from inside a callback: the input cursor is per call, so
// nested decoding on the same thread does not disturb the outer one.
struct NestingSink : Recorder {
  MessageReader inner;
  Recorder inner_sink;
  Bytes inner_stream;
  void on_message(Opcode op, std::span<const uint8_t> p) override {
    Recorder::on_message(op, p);
    EXPECT_EQ(inner.feed(inner_stream, inner_sink).close_code, 0);
  }
};

TEST(MessageReader, SinkMayFeedAnotherReader) {
  NestingSink sink;
  sink.inner_stream = concat({frame(Opcode::kBinary, {9}), frame(Opcode::kText, bytes_of("in"))});
  Bytes stream = concat({frame(Opcode::kText, bytes_of("one")), frame(Opcode::kText, bytes_of("two"))});
  MessageReader outer;
  EXPECT_EQ(outer.feed(stream, sink).close_code, 0);
  EXPECT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.inner_sink.events.size(), 4u);
}

TEST(MessageReader, EmptyFeedDoesNothing) {
  MessageReader reader;
  Recorder sink;
  EXPECT_EQ(reader.feed({}, sink).close_code, 0);
  EXPECT_TRUE(reader.idle());
}

}  // namespace
}  // namespace ringway::ws
