#pragma once
// The seam between the io loop and the protocol above it. The loop calls these on its own
// thread; tests can drive a handler with made-up completions.
#include <cstdint>
#include <span>

namespace ringway::io {

struct Conn;
struct Mail;
class Worker;

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // A connection was accepted; its peer address is known (conn.peer.known), unless the kernel
  // could not give it. No other callback for the connection comes before this one.
  virtual void on_open(Worker& w, Conn& c) = 0;
  // Bytes from the peer. They live in a ring buffer that is recycled when this returns.
  virtual void on_data(Worker& w, Conn& c, std::span<const uint8_t> bytes) = 0;
  // The peer shut down its side (FIN): it sends nothing more, but may still read.
  virtual void on_peer_eof(Worker& w, Conn& c) = 0;
  // The connection's timer expired.
  virtual void on_timer(Worker& w, Conn& c) = 0;
  // The server is shutting down: say goodbye.
  virtual void on_drain(Worker& w, Conn& c) = 0;
  // The connection is closing; release the session. Called once, never from inside another
  // callback for the same connection.
  virtual void on_close(Worker& w, Conn& c) = 0;
  // A record from another thread (see mail.h), in the order its producer sent it.
  virtual void on_mail(Worker& w, const Mail& m) {}
  // Once per loop turn, after completions, mail and timers and before output is flushed: the
  // place for work collected during the turn (fan-out, metrics).
  virtual void on_turn_end(Worker& w) {}
};

}  // namespace ringway::io
