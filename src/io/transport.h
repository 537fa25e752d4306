#pragma once
// The seam between socket bytes and the session above: plaintext in and out on one side, the
// bytes on the wire on the other. A plain connection has no Transport (the queue's bytes are the
// wire bytes); a TLS connection has one (src/tls) that the worker feeds received bytes and the
// plaintext the queue holds, and whose output it sends. The ring keeps doing all socket I/O;
// the transport does none, so tests drive it with byte buffers.
//
// End of stream belongs here too: the peer's close_notify ends its stream like a FIN, and the
// worker asks for our close_notify once everything owed is sealed, before it shuts down writes.
#include <cstddef>
#include <cstdint>
#include <span>

namespace ringway::io {

class PlaintextSink {
 public:
  virtual ~PlaintextSink() = default;
  virtual void plaintext(std::span<const uint8_t> bytes) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  enum class In : uint8_t {
    kOk,
    kPeerClosed,  // the peer ended its stream (close_notify): nothing more will be read
    kFailed,      // not the protocol (bad handshake, bad record, alert): close without a reply
  };
  // Bytes from the socket. Plaintext goes to `sink` as it is decrypted, in order. Bytes the
  // transport must send of its own accord (handshake, alerts, tickets) join its output.
  virtual In on_recv(std::span<const uint8_t> bytes, PlaintextSink& sink) = 0;
  // Whether plaintext may be sealed yet (the handshake is complete).
  virtual bool ready() const = 0;
  // Seals plaintext into the output. False when it cannot (out of memory, a broken session).
  virtual bool seal(std::span<const uint8_t> plaintext) = 0;
  // Seals the end of our stream (close_notify) once; nothing may be sealed after it.
  virtual void seal_close() = 0;
  // The output to send next: stable until consumed() covers it, even if on_recv adds more.
  virtual std::span<const uint8_t> output() = 0;
  virtual void consumed(size_t n) = 0;
  // Output bytes held (for the slow-consumer limit).
  virtual size_t buffered() const = 0;
};

// Makes one Transport per accepted connection of a listener (and takes it back).
class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  virtual Transport* create() = 0;  // nullptr when out of memory
  virtual void destroy(Transport* t) = 0;
};

}  // namespace ringway::io
