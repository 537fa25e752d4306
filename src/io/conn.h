#pragma once
// The io layer's part of a connection. It is small on purpose: an idle connection is this
// struct plus whatever the session above keeps; receive buffers belong to the ring and the
// output queue owns memory only while bytes wait to be sent.
#include <cstdint>

#include "io/out_queue.h"
#include "io/peer_address.h"
#include "io/transport.h"
#include "timer/timer_wheel.h"

namespace ringway::io {

namespace conn_flag {
inline constexpr uint16_t kRecvArmed = 1 << 0;       // a multishot recv is in flight
inline constexpr uint16_t kSendInFlight = 1 << 1;    // a send (of out's prepared iovecs) is in flight
inline constexpr uint16_t kDirty = 1 << 2;           // on the flush list for this turn
inline constexpr uint16_t kRearmRecv = 1 << 3;       // recv ended (e.g. ENOBUFS); re-arm this turn
inline constexpr uint16_t kShutdownWanted = 1 << 4;  // shut down writes once output is sent
inline constexpr uint16_t kShutdownSent = 1 << 5;
inline constexpr uint16_t kClosing = 1 << 6;         // cancel + close issued; no more callbacks
inline constexpr uint16_t kPeerEof = 1 << 7;         // the peer sent FIN
inline constexpr uint16_t kClosedNotified = 1 << 8;  // handler's on_close has run
inline constexpr uint16_t kCloseSent = 1 << 9;       // the descriptor's close is submitted
inline constexpr uint16_t kCloseAfterFlush = 1 << 10;  // close once everything queued is sent
inline constexpr uint16_t kOpened = 1 << 11;  // the handler's on_open has run (peer address known)
inline constexpr uint16_t kCloseNotified = 1 << 12;  // the transport's close_notify is sealed
}  // namespace conn_flag

struct Conn {
  timer::TimerNode timer;  // one deadline per connection; the session re-checks when it fires
  OutQueue out;            // queued output; touched only through the Worker's send_* calls
  uint32_t slot = 0;
  uint32_t gen = 0;
  int32_t fd = -1;         // direct descriptor index, or an ordinary fd
  uint16_t inflight = 0;   // submissions whose final completion has not arrived
  uint16_t flags = 0;
  uint8_t listener = 0;    // which of the worker's listeners accepted it
  Transport* transport = nullptr;  // TLS (null: the queue's bytes go to the socket as they are)
  Conn* next_dirty = nullptr;
  void* session = nullptr;  // owned by the ConnectionHandler
  PeerAddress peer;

  bool has(uint16_t f) const { return (flags & f) != 0; }
  bool closing() const { return has(conn_flag::kClosing); }
};

}  // namespace ringway::io
