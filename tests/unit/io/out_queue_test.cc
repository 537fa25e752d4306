// The output queue without a ring: sends are made-up completions of chosen sizes, and the bytes
// "sent" are collected from the iovecs the queue hands out, in order.
#include "io/out_queue.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace ringway::io {
namespace {

std::span<const uint8_t> b(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Block* shared_block(const std::string& s) {
  Block* blk = Block::create(s.size());
  std::memcpy(blk->data(), s.data(), s.size());
  blk->grow(uint32_t(s.size()));
  return blk;
}

// The bytes of the send in flight, in iovec order.
std::string current(OutQueue& q) {
  std::string out;
  if (q.iov_count() == 1) {
    iovec v = q.iov();
    out.append(static_cast<const char*>(v.iov_base), v.iov_len);
    return out;
  }
  msghdr* m = q.msg();
  for (size_t i = 0; i < m->msg_iovlen; ++i)
    out.append(static_cast<const char*>(m->msg_iov[i].iov_base), m->msg_iov[i].iov_len);
  return out;
}

// Sends everything queued, `chunk` bytes per completion; returns the bytes in wire order.
std::string drain(OutPools& p, OutQueue& q, size_t chunk = SIZE_MAX) {
  std::string wire;
  while (q.prepare(p)) {
    for (;;) {
      std::string now = current(q);
      size_t n = std::min(chunk, now.size());
      wire += now.substr(0, n);
      if (q.on_sent(p, n)) break;
    }
  }
  return wire;
}

TEST(OutQueue, SmallFramesShareOneBlockAndOneSend) {
  OutPools p;
  OutQueue q;
  for (int i = 0; i < 10; ++i) ASSERT_EQ(q.append(p, b("hd"), b("payload")), OutQueue::Result::kQueued);
  EXPECT_EQ(p.segments_in_use(), 1u);
  EXPECT_EQ(q.buffered(), 90u);
  ASSERT_EQ(q.prepare(p), 1u);
  EXPECT_EQ(current(q).size(), 90u);
  EXPECT_TRUE(q.on_sent(p, 90));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.buffered(), 0u);
  EXPECT_EQ(p.segments_in_use(), 0u);
}

TEST(OutQueue, PartialSendsAcrossSegmentBoundariesKeepOrderAndRefcounts) {
  OutPools p;
  OutQueue q;
  Block* s1 = shared_block("SHARED-ONE|");
  Block* s2 = shared_block("SHARED-TWO|");
  ASSERT_EQ(q.append(p, b("own-a|")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.append_shared(p, s1, 0, s1->size()), OutQueue::Result::kQueued);
  ASSERT_EQ(q.append(p, b("own-b|")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.append_shared(p, s2, 7, 4), OutQueue::Result::kQueued);  // a slice: "TWO|"
  EXPECT_EQ(s1->refs(), 2u);
  EXPECT_EQ(s2->refs(), 2u);
  for (size_t chunk : {1u, 3u, 5u, 7u}) {
    SCOPED_TRACE(chunk);
    OutQueue r;
    ASSERT_EQ(r.append(p, b("x|")), OutQueue::Result::kQueued);
    ASSERT_EQ(r.append_shared(p, s1, 0, s1->size()), OutQueue::Result::kQueued);
    ASSERT_EQ(r.append(p, b("y|")), OutQueue::Result::kQueued);
    EXPECT_EQ(drain(p, r, chunk), "x|SHARED-ONE|y|");
    EXPECT_TRUE(r.empty());
  }
  EXPECT_EQ(drain(p, q, 4), "own-a|SHARED-ONE|own-b|TWO|");
  EXPECT_EQ(s1->refs(), 1u);
  EXPECT_EQ(s2->refs(), 1u);
  EXPECT_EQ(p.segments_in_use(), 0u);
  EXPECT_EQ(p.batches_in_use(), 0u);
  s1->unref();
  s2->unref();
}

TEST(OutQueue, ControlFramesWaitForTheSendInFlightThenJumpQueuedData) {
  OutPools p;
  OutQueue q;
  ASSERT_EQ(q.append(p, b("DATA-A")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.prepare(p), 1u);
  // Queued while DATA-A is in flight: a pong and more data.
  ASSERT_EQ(q.set_control(p, ControlKind::kPong, b("PONG")), OutQueue::Result::kQueued);
  Block* blk = shared_block("DATA-B");
  ASSERT_EQ(q.append_shared(p, blk, 0, blk->size()), OutQueue::Result::kQueued);
  EXPECT_FALSE(q.on_sent(p, 2));  // partial: the rest of DATA-A is resumed, nothing inserted
  EXPECT_EQ(current(q), "TA-A");
  EXPECT_TRUE(q.on_sent(p, 4));
  ASSERT_EQ(q.prepare(p), 2u);
  EXPECT_EQ(current(q), "PONGDATA-B");  // the pong goes first at the frame boundary
  EXPECT_TRUE(q.on_sent(p, 10));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(p.lanes_in_use(), 0u);
  blk->unref();
}

TEST(OutQueue, ControlFramesNeverJumpBarrierBytes) {
  OutPools p;
  OutQueue q;
  ASSERT_EQ(q.append(p, b("HTTP/1.1 101\r\n\r\n"), {}, /*barrier=*/true), OutQueue::Result::kQueued);
  ASSERT_EQ(q.append(p, b("ECHO")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.set_control(p, ControlKind::kPong, b("PONG")), OutQueue::Result::kQueued);
  EXPECT_EQ(drain(p, q), "HTTP/1.1 101\r\n\r\nPONGECHO");
}

TEST(OutQueue, ANewerControlFrameOfAKindReplacesThePendingOne) {
  OutPools p;
  OutQueue q;
  ASSERT_EQ(q.set_control(p, ControlKind::kPong, b("pong-1")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.set_control(p, ControlKind::kPing, b("ping")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.set_control(p, ControlKind::kPong, b("pong-2")), OutQueue::Result::kQueued);
  EXPECT_EQ(drain(p, q), "pingpong-2");
  EXPECT_EQ(p.lanes_in_use(), 0u);
}

TEST(OutQueue, NothingIsAcceptedAfterTheFinalFrame) {
  OutPools p;
  OutQueue q;
  ASSERT_EQ(q.append(p, b("data|")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.append_final(p, b("CLOSE")), OutQueue::Result::kQueued);
  EXPECT_TRUE(q.closed());
  Block* blk = shared_block("late");
  EXPECT_EQ(q.append(p, b("late")), OutQueue::Result::kClosed);
  EXPECT_EQ(q.append_shared(p, blk, 0, 4), OutQueue::Result::kClosed);
  EXPECT_EQ(q.set_control(p, ControlKind::kPong, b("late")), OutQueue::Result::kClosed);
  EXPECT_EQ(q.append_final(p, b("CLOSE2")), OutQueue::Result::kClosed);
  EXPECT_EQ(blk->refs(), 1u);
  EXPECT_EQ(drain(p, q), "data|CLOSE");
  blk->unref();
}

TEST(OutQueue, DropUnsentKeepsOnlyTheSendInFlight) {
  OutPools p;
  OutQueue q;
  ASSERT_EQ(q.append(p, b("in-flight|")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.prepare(p), 1u);
  // Appended into the same block after prepare(): not part of the send in flight.
  ASSERT_EQ(q.append(p, b("dropped-1|")), OutQueue::Result::kQueued);
  Block* blk = shared_block("dropped-2|");
  ASSERT_EQ(q.append_shared(p, blk, 0, blk->size()), OutQueue::Result::kQueued);
  ASSERT_EQ(q.set_control(p, ControlKind::kPing, b("ping")), OutQueue::Result::kQueued);
  q.drop_unsent(p);
  EXPECT_EQ(q.buffered(), 10u);
  EXPECT_EQ(blk->refs(), 1u);
  EXPECT_TRUE(q.on_sent(p, 10));
  EXPECT_TRUE(q.empty());
  ASSERT_EQ(q.append_final(p, b("CLOSE")), OutQueue::Result::kQueued);
  EXPECT_EQ(drain(p, q), "CLOSE");
  blk->unref();
}

TEST(OutQueue, BytesAppendedToTheTailBlockDuringASendGoInTheNext) {
  OutPools p;
  OutQueue q;
  ASSERT_EQ(q.append(p, b("first|")), OutQueue::Result::kQueued);
  ASSERT_EQ(q.prepare(p), 1u);
  ASSERT_EQ(q.append(p, b("second|")), OutQueue::Result::kQueued);
  EXPECT_EQ(p.segments_in_use(), 1u);  // the same block, grown in place
  EXPECT_EQ(current(q), "first|");
  EXPECT_TRUE(q.on_sent(p, 6));
  EXPECT_EQ(q.buffered(), 7u);
  EXPECT_TRUE(q.has_unsent());
  EXPECT_EQ(drain(p, q), "second|");
}

TEST(OutQueue, ManySegmentsGoOutOverSeveralSends) {
  OutPools p;
  OutQueue q;
  Block* blk = shared_block("0123456789");
  std::string want;
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(q.append_shared(p, blk, uint32_t(i % 10), 1), OutQueue::Result::kQueued);
    want += char('0' + i % 10);
  }
  EXPECT_EQ(blk->refs(), 41u);
  ASSERT_EQ(q.prepare(p), kMaxSendIovecs);
  EXPECT_EQ(current(q), want.substr(0, kMaxSendIovecs));
  EXPECT_TRUE(q.on_sent(p, kMaxSendIovecs));
  EXPECT_EQ(drain(p, q), want.substr(kMaxSendIovecs));
  EXPECT_EQ(blk->refs(), 1u);
  blk->unref();
}

TEST(OutQueue, ReleaseGivesEveryReferenceBack) {
  OutPools p;
  Block* blk = shared_block("frame");
  {
    OutQueue a, c, d;
    for (OutQueue* q : {&a, &c, &d}) {
      ASSERT_EQ(q->append_shared(p, blk, 0, 5), OutQueue::Result::kQueued);
      ASSERT_EQ(q->append(p, b("own")), OutQueue::Result::kQueued);
      ASSERT_EQ(q->set_control(p, ControlKind::kPing, b("p")), OutQueue::Result::kQueued);
    }
    EXPECT_EQ(blk->refs(), 4u);
    ASSERT_EQ(a.prepare(p), 3u);  // a has a send in flight (and a batch) when it is released
    a.release(p);
    c.release(p);
    d.release(p);
  }
  EXPECT_EQ(blk->refs(), 1u);
  EXPECT_EQ(p.segments_in_use(), 0u);
  EXPECT_EQ(p.lanes_in_use(), 0u);
  EXPECT_EQ(p.batches_in_use(), 0u);
  blk->unref();
}

TEST(OutQueue, AnIdleQueueOwnsNoMemory) {
  OutPools p;
  OutQueue q;
  ASSERT_EQ(q.append(p, std::span<const uint8_t>(std::vector<uint8_t>(100000).data(), 100000)),
            OutQueue::Result::kQueued);
  ASSERT_EQ(q.set_control(p, ControlKind::kPing, b("p")), OutQueue::Result::kQueued);
  drain(p, q, 4096);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(p.segments_in_use() + p.lanes_in_use() + p.batches_in_use(), 0u);
}

TEST(OutQueue, OversizedControlFramesAreRefused) {
  OutPools p;
  OutQueue q;
  std::string big(kMaxControlFrame + 1, 'x');
  EXPECT_EQ(q.set_control(p, ControlKind::kPing, b(big)), OutQueue::Result::kNoMemory);
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace ringway::io
