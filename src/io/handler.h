#pragma once
// The seam between the io loop and the protocol above it. The loop calls these on its own
// thread; tests can drive a handler with made-up completions.
#include <cstdint>
#include <span>

namespace ringway::io {

struct Conn;
class Worker;

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // A connection was accepted. Its peer address may arrive a moment later (conn.peer.known).
  virtual void on_open(Worker& w, Conn& c) = 0;
  // Bytes from the peer. They live in a ring buffer that is recycled when this returns.
  virtual void on_data(Worker& w, Conn& c, std::span<const uint8_t> bytes) = 0;
  // The peer shut down its side (FIN).
  virtual void on_peer_eof(Worker& w, Conn& c) = 0;
  // The connection's timer expired.
  virtual void on_timer(Worker& w, Conn& c) = 0;
  // The server is shutting down: say goodbye.
  virtual void on_drain(Worker& w, Conn& c) = 0;
  // The connection is closing; release the session. Called once, never from inside another
  // callback for the same connection.
  virtual void on_close(Worker& w, Conn& c) = 0;
};

}  // namespace ringway::io
