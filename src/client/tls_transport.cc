// TLS transport for wss:// (transport.h): the server's memory-BIO tls::Session over the plain
// TCP transport. Bytes read from the socket go into the session; its records go out through the
// TCP transport. Using the same session as the server (instead of an SSL on the descriptor) keeps
// one TLS driver in the project; the price is one copy of the plaintext through plain_.
#include <cstring>

#include "client/transport.h"
#include "common/byte_buffer.h"
#include "tls/context.h"
#include "tls/session.h"

namespace ringway::client {

namespace {

constexpr size_t kRecvChunk = 16 * 1024 + 256;  // a full TLS record with its overhead
constexpr size_t kMaxSealed = 256 * 1024;       // sealed but unsent: then write() says wait

class TlsTransport final : public Transport, private io::PlaintextSink {
 public:
  TlsTransport(std::unique_ptr<Transport> tcp, const std::string& host,
               std::shared_ptr<tls::ClientContext> ctx)
      : tcp_(std::move(tcp)), ctx_(std::move(ctx)), host_(host), session_(*ctx_, host) {}

  ~TlsTransport() override {
    // close_notify, best effort: a full socket buffer loses it, as it would lose a FIN's data.
    if (session_.ready() && !write_closed_) {
      session_.seal_close();
      std::string err;
      send_output(err);
    }
  }

  int fd() const override { return tcp_->fd(); }
  bool wants_write() const override {
    return !tcp_done_ ? tcp_->wants_write() : session_.buffered() > 0;
  }
  bool buffered_input() const override { return plain_.size() > plain_off_ || peer_closed_; }
  bool certificate_refused() const override { return refused_; }

  Io handshake(std::string& err) override {
    if (!tcp_done_) {
      Io r = tcp_->handshake(err);
      if (r != Io::kDone) return r;
      tcp_done_ = true;
      if (!session_.ok() || !session_.start_handshake()) {
        err = "TLS: cannot start the handshake: " + session_.error();
        return Io::kError;
      }
    }
    for (;;) {
      if (send_output(err) == Io::kError) return Io::kError;
      if (session_.ready()) return Io::kDone;
      Io r = pull(err);
      if (r == Io::kClosed || peer_closed_) {
        err = "TLS: the server closed the connection during the handshake";
        return Io::kError;
      }
      if (r != Io::kDone) return r;
    }
  }

  Io read(std::span<uint8_t> buf, size_t& got, std::string& err) override {
    got = 0;
    for (;;) {
      if (plain_off_ < plain_.size()) {
        got = std::min(buf.size(), plain_.size() - plain_off_);
        std::memcpy(buf.data(), plain_.data() + plain_off_, got);
        plain_off_ += got;
        if (plain_off_ == plain_.size()) {
          if (plain_.capacity() > 64 * 1024) plain_.release();
          else plain_.clear();
          plain_off_ = 0;
        }
        return Io::kDone;
      }
      if (peer_closed_) return Io::kClosed;
      Io r = pull(err);
      if (r != Io::kDone) return r;  // kClosed: a FIN without close_notify ends the stream too
    }
  }

  Io write(std::span<const uint8_t> buf, size_t& put, std::string& err) override {
    put = 0;
    if (send_output(err) == Io::kError) return Io::kError;
    if (session_.buffered() >= kMaxSealed) return Io::kWouldBlock;
    size_t n = std::min(buf.size(), kMaxSealed);
    if (!session_.seal(buf.first(n))) {
      err = "TLS: cannot seal: " + session_.error();
      return Io::kError;
    }
    put = n;
    return send_output(err) == Io::kError ? Io::kError : Io::kDone;
  }

  Io flush(std::string& err) override { return send_output(err); }

  void shutdown_write() override {
    if (!write_closed_ && session_.ready()) session_.seal_close();
    write_closed_ = true;
    std::string err;
    send_output(err);
    tcp_->shutdown_write();
  }

 private:
  void plaintext(std::span<const uint8_t> bytes) override {
    if (!plain_.append(bytes.data(), bytes.size())) out_of_memory_ = true;
  }

  // One recv into the session: kDone when bytes came (plaintext may or may not have followed).
  Io pull(std::string& err) {
    uint8_t buf[kRecvChunk];
    size_t got = 0;
    Io r = tcp_->read(buf, got, err);
    if (r != Io::kDone) return r;
    io::Transport::In in = session_.on_recv({buf, got}, *this);
    if (in == io::Transport::In::kFailed || out_of_memory_) {
      std::string why = session_.certificate_error();
      refused_ = !why.empty();
      if (refused_) err = "TLS: the certificate of " + host_ + " was refused: " + why;
      else if (out_of_memory_) err = "TLS: out of memory";
      else err = "TLS: " + session_.error();
      return Io::kError;
    }
    if (in == io::Transport::In::kPeerClosed) peer_closed_ = true;
    if (send_output(err) == Io::kError) return Io::kError;  // alerts, key updates
    return Io::kDone;
  }

  // Sends the session's records: kDone when none are left, kWouldBlock when the socket is full.
  Io send_output(std::string& err) {
    for (;;) {
      std::span<const uint8_t> out = session_.output();
      if (out.empty()) return Io::kDone;
      size_t put = 0;
      Io r = tcp_->write(out, put, err);
      if (r != Io::kDone) return r;
      session_.consumed(put);
    }
  }

  std::unique_ptr<Transport> tcp_;
  std::shared_ptr<tls::ClientContext> ctx_;  // outlives the session made on it
  std::string host_;
  tls::Session session_;
  ByteBuffer plain_;  // decrypted, not yet read (plain_off_ bytes of it already were)
  size_t plain_off_ = 0;
  bool tcp_done_ = false, peer_closed_ = false, refused_ = false, write_closed_ = false;
  bool out_of_memory_ = false;
};

}  // namespace

std::unique_ptr<Transport> open_tls(std::unique_ptr<Transport> tcp, const std::string& host,
                                    std::shared_ptr<tls::ClientContext> tls) {
  return std::make_unique<TlsTransport>(std::move(tcp), host, std::move(tls));
}

}  // namespace ringway::client
