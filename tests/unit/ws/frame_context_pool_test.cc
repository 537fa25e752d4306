#include "ws/frame_context_pool.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "test_frames.h"

namespace ringway::ws {
namespace {

using namespace test;

TEST(ContextPool, AReaderReturnsItsContextAtAFrameBoundary) {
  detail::drain_decoder_pool();
  MessageReader reader;
  Recorder sink;
  Bytes f = frame(Opcode::kBinary, Bytes(50, 1));
  reader.feed({f.data(), 10}, sink);
  EXPECT_EQ(detail::pooled_decoder_contexts(), 0u) << "mid-frame the reader keeps it";
  reader.feed({f.data() + 10, f.size() - 10}, sink);
  EXPECT_EQ(detail::pooled_decoder_contexts(), 1u);
  reader.feed(f, sink);
  EXPECT_EQ(detail::pooled_decoder_contexts(), 1u) << "the same context is reused";
}

TEST(ContextPool, AReaderDestroyedMidFrameFreesItsContext) {
  detail::drain_decoder_pool();
  {
    MessageReader reader;
    Recorder sink;
    Bytes f = frame(Opcode::kBinary, Bytes(50, 1));
    reader.feed({f.data(), 10}, sink);
  }
  EXPECT_EQ(detail::pooled_decoder_contexts(), 0u);
}

TEST(ContextPool, AProtocolErrorNeverPoolsTheContext) {
  detail::drain_decoder_pool();
  MessageReader reader;
  Recorder sink;
  Bytes bad{0x82, 0x80 | 126, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
  EXPECT_EQ(reader.feed(bad, sink).close_code, close_code::kProtocolError);
  EXPECT_EQ(detail::pooled_decoder_contexts(), 0u);
  EXPECT_TRUE(reader.idle());
}

TEST(ContextPool, APooledContextStartsClean) {
  // A context pooled by one reader must decode from a frame boundary for the next.
  detail::drain_decoder_pool();
  Recorder sink;
  {
    MessageReader a;
    a.feed(frame(Opcode::kText, bytes_of("first")), sink);
  }
  ASSERT_EQ(detail::pooled_decoder_contexts(), 1u);
  MessageReader b;
  Bytes f = frame(Opcode::kText, bytes_of("second"));
  EXPECT_EQ(b.feed(f, sink).close_code, 0);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[1], message(Opcode::kText, bytes_of("second")));
}

TEST(ContextPool, HoldsAtMostTheNamedLimit) {
  detail::drain_decoder_pool();
  constexpr size_t kReaders = detail::kMaxPooledContexts + 5;
  std::vector<std::unique_ptr<MessageReader>> readers;
  Recorder sink;
  Bytes f = frame(Opcode::kBinary, Bytes(50, 1));
  for (size_t i = 0; i < kReaders; ++i) {
    readers.push_back(std::make_unique<MessageReader>());
    readers.back()->feed({f.data(), 10}, sink);
  }
  EXPECT_EQ(detail::pooled_decoder_contexts(), 0u);
  for (auto& r : readers) r->feed({f.data() + 10, f.size() - 10}, sink);
  EXPECT_EQ(detail::pooled_decoder_contexts(), detail::kMaxPooledContexts);
  for (auto& r : readers) EXPECT_TRUE(r->idle());
  EXPECT_EQ(sink.events.size(), kReaders);
  detail::drain_decoder_pool();
  EXPECT_EQ(detail::pooled_decoder_contexts(), 0u);
}

TEST(ContextPool, EachThreadHasItsOwn) {
  detail::drain_decoder_pool();
  std::thread t([] {
    MessageReader reader;
    Recorder sink;
    reader.feed(frame(Opcode::kText, bytes_of("x")), sink);
    EXPECT_EQ(detail::pooled_decoder_contexts(), 1u);
  });
  t.join();
  EXPECT_EQ(detail::pooled_decoder_contexts(), 0u);
}

}  // namespace
}  // namespace ringway::ws
