#pragma once
// The seam between socket bytes and the WebSocket connection. A transport connects, moves
// bytes and reports end of stream; the connection above it never touches the socket. Plain TCP,
// and TLS (wss://) over it: the server's own memory-BIO session (src/tls) fed from the socket,
// which is why the handshake step, the write interest and buffered input are the transport's
// to say.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "client/url.h"

namespace ringway::tls {
class ClientContext;
}

namespace ringway::client {

enum class Io : uint8_t {
  kDone,        // progress: bytes moved, or the handshake finished
  kWouldBlock,  // wait for the descriptor (see wants_write)
  kClosed,      // orderly end of stream from the peer (read only)
  kError,       // the connection is unusable; err says why
};

class Transport {
 public:
  virtual ~Transport() = default;
  // The descriptor to wait on (for readability always, for writability when wants_write()).
  // It may change while handshake() has not finished; the caller then watches the new one.
  virtual int fd() const = 0;
  // Finishes connecting (TCP, then TLS). Call until kDone whenever the descriptor is ready.
  virtual Io handshake(std::string& err) = 0;
  // True while the transport itself needs writability (connect in progress, TLS records not
  // yet sent); flush() then sends what it holds.
  virtual bool wants_write() const = 0;
  virtual Io read(std::span<uint8_t> buf, size_t& got, std::string& err) = 0;
  // put < buf.size() is progress too; kWouldBlock when nothing could be taken.
  virtual Io write(std::span<const uint8_t> buf, size_t& put, std::string& err) = 0;
  virtual Io flush(std::string&) { return Io::kDone; }
  // Input already taken from the socket and not yet read (TLS: decrypted bytes, or the peer's
  // close_notify): the descriptor will not report it, so read on.
  virtual bool buffered_input() const { return false; }
  // The last kError was the server's certificate failing verification (not worth retrying).
  virtual bool certificate_refused() const { return false; }
  // No more bytes will be written (TLS close_notify, then TCP FIN once what was written has gone).
  virtual void shutdown_write() = 0;
};

// Resolves the URL's host (getaddrinfo: blocking for names, immediate for literals) and starts a
// non-blocking connect to its first address; a refused connect moves on to the next address
// (so fd() may change until handshake() is done). wss:// runs TLS over that on `tls` (null: a
// context that verifies against the system's trust store). nullptr with err set on failure.
std::unique_ptr<Transport> open_transport(const Url& url, std::string& err,
                                          std::shared_ptr<tls::ClientContext> tls = nullptr);
// TLS for `host` over a transport that connects (plain TCP), on `tls`.
std::unique_ptr<Transport> open_tls(std::unique_ptr<Transport> tcp, const std::string& host,
                                    std::shared_ptr<tls::ClientContext> tls);
struct SocketAddress {
  sockaddr_storage addr;
  socklen_t len;
};
// The same for addresses already resolved, tried in order.
std::unique_ptr<Transport> open_tcp(std::vector<SocketAddress> addrs, std::string& err);
// A transport over a connected stream socket the caller made (tests: one end of a socketpair).
// It takes ownership and makes the socket non-blocking.
std::unique_ptr<Transport> adopt_socket(int fd);

}  // namespace ringway::client
