#pragma once
// A connection's output: a short list of segments, each a slice of a reference-counted Block,
// plus a control lane. Fan-out queues one shared block to every recipient (a reference, never a
// copy); small owned frames are appended into the tail block while it has room, so an echo burst
// costs one allocation per send, not one per frame.
//
// The control lane holds at most one pending frame of each ControlKind (ping, pong): a newer one
// replaces the older, so a peer that floods pings gets one pong for the latest (RFC 6455
// §5.5.3) and costs no memory or copying per ping. Control frames go out at the next frame
// boundary: in the next send, ahead of every data segment not yet started, but never ahead of a
// barrier segment (bytes that are not WebSocket frames, like the 101 response) nor inside a send
// already in flight. The final frame (the close) closes the queue: nothing is accepted after it.
//
// At most one send is in flight. prepare() describes it as iovecs and fixes how many bytes of
// each segment it covers; segments appended meanwhile wait for the next one. A partial send is
// resumed from where it stopped, so frames are never split between sends with something else in
// between. The queue does no I/O; tests drive it with made-up completions.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "io/block.h"

namespace ringway::io {

enum class ControlKind : uint8_t { kPing = 0, kPong = 1 };
inline constexpr size_t kControlKinds = 2;
inline constexpr size_t kMaxControlFrame = 2 + 125;  // header + the largest control payload
inline constexpr size_t kMaxSendIovecs = 32;         // per send; more segments wait for the next
// Smallest block allocated for owned frames; small frames share it until it is full.
inline constexpr size_t kMinOwnedBlock = 1024;
// Bytes one queue may hold (its counters are 32-bit).
inline constexpr size_t kMaxQueuedBytes = size_t(1) << 31;

struct Segment {
  Block* block;
  uint32_t off, len;
  Segment* next;
  bool barrier;
};

struct ControlLane {
  uint8_t pending_len[kControlKinds];
  uint8_t pending[kControlKinds][kMaxControlFrame];
  uint16_t wire_len;  // bytes of control frames in the send in flight
  uint8_t wire[kControlKinds * kMaxControlFrame];
};

struct SendBatch {
  msghdr hdr;
  iovec iov[kMaxSendIovecs];
  uint8_t first, count;  // iov[first..count) is what is still to be sent
};

// Per-worker free lists for the queue's small objects, so the data path does not call malloc
// for them. Each list keeps at most a bounded number of spares; the rest go back to the heap.
class OutPools {
 public:
  OutPools() = default;
  OutPools(const OutPools&) = delete;
  OutPools& operator=(const OutPools&) = delete;
  ~OutPools();

  Segment* segment();  // nullptr when out of memory
  void put(Segment* s);
  ControlLane* lane();
  void put(ControlLane* l);
  SendBatch* batch();
  void put(SendBatch* b);

  // Objects handed out and not yet returned, for tests and metrics.
  size_t segments_in_use() const { return segments_out_; }
  size_t lanes_in_use() const { return lanes_out_; }
  size_t batches_in_use() const { return batches_out_; }

  static constexpr size_t kMaxSpareSegments = 4096, kMaxSpareLanes = 256, kMaxSpareBatches = 256;

 private:
  std::vector<Segment*> segments_;
  std::vector<ControlLane*> lanes_;
  std::vector<SendBatch*> batches_;
  size_t segments_out_ = 0, lanes_out_ = 0, batches_out_ = 0;
};

class OutQueue {
 public:
  enum class Result : uint8_t {
    kQueued,
    kClosed,    // the final frame is already queued: dropped, as nothing may follow it
    kNoMemory,  // nothing was queued
  };

  OutQueue() = default;
  OutQueue(const OutQueue&) = delete;
  OutQueue& operator=(const OutQueue&) = delete;

  // Copies a and then b (a frame header and its payload) as one piece of output. barrier:
  // control frames may not jump these bytes.
  Result append(OutPools& p, std::span<const uint8_t> a, std::span<const uint8_t> b = {},
                bool barrier = false);
  // Queues bytes [off, off+len) of a shared block, taking one reference to it.
  Result append_shared(OutPools& p, Block* block, uint32_t off, uint32_t len);
  // A control frame (at most kMaxControlFrame bytes); replaces a pending one of the same kind.
  Result set_control(OutPools& p, ControlKind kind, std::span<const uint8_t> frame);
  // The last frame: queued after everything already queued; afterwards everything is refused.
  Result append_final(OutPools& p, std::span<const uint8_t> frame);
  // Forgets every byte and control frame that is not part of the send in flight (slow consumer).
  void drop_unsent(OutPools& p);
  // Gives everything back (the connection is gone; any send in flight has completed).
  void release(OutPools& p);

  bool closed() const { return closed_; }
  bool in_flight() const { return inflight_ != 0; }
  // Something waits for the next send.
  bool has_unsent() const;
  // Nothing queued and nothing in flight.
  bool empty() const { return head_ == nullptr && !in_flight() && !has_control(); }
  // Bytes held: queued data (including the part in flight). Control frames are not counted:
  // at most one of each kind exists.
  size_t buffered() const { return queued_; }

  // Starts the next send (none may be in flight). Returns the number of iovecs (0: nothing to
  // send); then iov() or msg() describe the send.
  size_t prepare(OutPools& p);
  // The kernel took n bytes (n > 0) of the send in flight. True when the send is complete; false
  // when the rest must be sent (iov()/msg() describe the rest).
  bool on_sent(OutPools& p, size_t n);
  // The send in flight that is left, as one iovec when iov_count() == 1.
  size_t iov_count() const;
  iovec iov() const;
  msghdr* msg() { return batch_ ? &batch_->hdr : nullptr; }

 private:
  bool has_control() const;
  Segment* new_segment(OutPools& p, Block* b, uint32_t off, uint32_t len, bool barrier);
  void pop_head(OutPools& p);
  void maybe_free_lane(OutPools& p);

  Segment* head_ = nullptr;
  Segment* tail_ = nullptr;
  ControlLane* ctrl_ = nullptr;  // only while a control frame is pending or in flight
  SendBatch* batch_ = nullptr;   // only while a send of more than one iovec is in flight
  uint32_t queued_ = 0;          // bytes in segments
  uint32_t inflight_ = 0;        // bytes the send in flight covers (0: none in flight)
  uint32_t done_ = 0;            // of which the kernel has taken this many
  uint32_t seg_bytes_ = 0;       // of which this many are segment bytes (the rest control)
  bool closed_ = false;
  bool single_is_control_ = false;  // a one-iovec send in flight is the control lane's wire
};

}  // namespace ringway::io
