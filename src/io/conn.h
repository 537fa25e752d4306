#pragma once
// The io layer's part of a connection. It is small on purpose: an idle connection is this
// struct plus whatever the session above keeps; receive buffers belong to the ring and output
// buffers own memory only while bytes wait to be sent.
#include <cstdint>

#include "common/byte_buffer.h"
#include "io/peer_address.h"
#include "timer/timer_wheel.h"

namespace ringway::io {

namespace conn_flag {
inline constexpr uint16_t kRecvArmed = 1 << 0;     // a multishot recv is in flight
inline constexpr uint16_t kSendInFlight = 1 << 1;  // `sending` belongs to the kernel
inline constexpr uint16_t kDirty = 1 << 2;         // on the flush list for this turn
inline constexpr uint16_t kRearmRecv = 1 << 3;     // recv ended (e.g. ENOBUFS); re-arm this turn
inline constexpr uint16_t kShutdownWanted = 1 << 4;  // shut down writes once output is sent
inline constexpr uint16_t kShutdownSent = 1 << 5;
inline constexpr uint16_t kClosing = 1 << 6;       // cancel + close issued; no more callbacks
inline constexpr uint16_t kPeerEof = 1 << 7;       // the peer sent FIN
inline constexpr uint16_t kClosedNotified = 1 << 8;  // handler's on_close has run
inline constexpr uint16_t kCloseSent = 1 << 9;    // the descriptor's close is submitted
}  // namespace conn_flag

struct Conn {
  timer::TimerNode timer;  // one deadline per connection; the session re-checks when it fires
  ByteBuffer out;          // queued output: [ctrl_len bytes of control frames][data frames]
  ByteBuffer sending;      // the bytes of the send in flight
  uint32_t sent = 0;       // bytes of `sending` already accepted by the kernel
  uint32_t ctrl_len = 0;   // control frames at the front of `out` (they jump the data queue)
  uint32_t slot = 0;
  uint32_t gen = 0;
  int32_t fd = -1;         // direct descriptor index, or an ordinary fd
  uint16_t inflight = 0;   // submissions whose final completion has not arrived
  uint16_t flags = 0;
  Conn* next_dirty = nullptr;
  void* session = nullptr;  // owned by the ConnectionHandler
  PeerAddress peer;

  bool has(uint16_t f) const { return (flags & f) != 0; }
  // Bytes accepted for sending and not yet taken by the kernel.
  size_t buffered() const { return out.size() + (sending.size() - sent); }
};

}  // namespace ringway::io
