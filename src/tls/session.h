#pragma once
// One TLS connection over memory, as an io::Transport: BoringSSL reads the bytes handed to
// on_recv and writes its records into this session's output buffers through a small custom BIO,
// so there is no socket, no blocking call and no thread. Output has two buffers: the one the
// socket is sending (stable while the send is in flight) and the one new records go to; each
// owns memory only while it holds bytes, so an idle session is the SSL object and this struct.
#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/byte_buffer.h"
#include "io/transport.h"
#include "tls/context.h"

namespace ringway::tls {

class Session final : public io::Transport {
 public:
  // A server session (accept state) on `contexts` (kept alive by the session), or a client
  // session (connect state) on `client_ctx` for `server_name` (SNI and, when verifying, the
  // name checked in the certificate). Check ok() after construction.
  Session(std::shared_ptr<const ServerContexts> contexts);
  Session(SSL_CTX* client_ctx, const std::string& server_name, bool verify_name);
  // A client session for `host` on a ClientContext: SNI unless host is an IP literal, the name
  // or address checked in the certificate unless the context is insecure, and the context's
  // newest session offered for resumption.
  Session(const ClientContext& ctx, const std::string& host);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  bool ok() const { return ssl_ != nullptr; }

  In on_recv(std::span<const uint8_t> bytes, io::PlaintextSink& sink) override;
  bool ready() const override { return handshake_done_; }
  bool seal(std::span<const uint8_t> plaintext) override;
  void seal_close() override;
  std::span<const uint8_t> output() override;
  void consumed(size_t n) override;
  size_t buffered() const override { return (sending_.size() - sent_) + pending_.size(); }

  // For a client: starts the handshake (its ClientHello becomes output).
  bool start_handshake();
  bool resumed() const { return ssl_ && SSL_session_reused(ssl_); }
  // The certificate check failed (the handshake error is then the verifier's): why, or "".
  std::string certificate_error() const;
  const SSL* ssl() const { return ssl_; }
  // Why the last on_recv failed ("" if it did not).
  const std::string& error() const { return error_; }

 private:
  friend struct BioAccess;
  void init_client(SSL_CTX* ctx);
  bool drive_handshake();
  In read_plaintext(io::PlaintextSink& sink);

  SSL* ssl_ = nullptr;
  std::shared_ptr<const ServerContexts> contexts_;  // server sessions: keeps the set alive
  // What the BIO reads: the bytes of the current on_recv.
  const uint8_t* in_ = nullptr;
  size_t in_len_ = 0;
  bool write_failed_ = false;
  ByteBuffer sending_;  // output handed to the socket (sent_ bytes of it already taken)
  size_t sent_ = 0;
  ByteBuffer pending_;  // records written since
  bool handshake_done_ = false;
  bool closed_ = false;  // close_notify sealed
  std::string error_;
};

// Counters of every session since start (any thread reads; sessions add with relaxed RMWs, which
// happen only at handshakes and failures, never per record).
struct Counters {
  std::atomic<uint64_t> handshakes{0}, resumed{0}, failed{0};
};
Counters& counters();

// Hands out server sessions for one listener on the current context set, which a reload replaces
// (connections already open keep theirs).
class ServerFactory final : public io::TransportFactory {
 public:
  explicit ServerFactory(std::shared_ptr<const ServerContexts> contexts)
      : contexts_(std::move(contexts)) {}
  io::Transport* create() override;
  void destroy(io::Transport* t) override { delete static_cast<Session*>(t); }
  void replace(std::shared_ptr<const ServerContexts> contexts) {
    std::lock_guard<std::mutex> lock(mu_);
    contexts_.swap(contexts);
  }

 private:
  std::shared_ptr<const ServerContexts> current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return contexts_;
  }
  // A mutex, not std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a lock bit
  // ThreadSanitizer cannot see (it reported the reload racing the workers), and one lock per
  // TLS accept costs nothing next to the handshake. The old set is released outside the lock.
  mutable std::mutex mu_;
  std::shared_ptr<const ServerContexts> contexts_;
};

}  // namespace ringway::tls
