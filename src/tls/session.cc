#include "tls/session.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <cstring>

namespace ringway::tls {

// The BIO between BoringSSL and the session's memory: reads take from the bytes of the current
// on_recv (and ask to be retried when they are used up); writes append to the pending output.
struct BioAccess {
  static int write(BIO* bio, const char* data, int len) {
    auto* s = static_cast<Session*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    if (!s->pending_.append(data, size_t(len))) {
      s->write_failed_ = true;
      return -1;
    }
    return len;
  }
  static int read(BIO* bio, char* out, int len) {
    auto* s = static_cast<Session*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (s->in_len_ == 0) {
      BIO_set_retry_read(bio);
      return -1;
    }
    size_t n = std::min(size_t(len), s->in_len_);
    std::memcpy(out, s->in_, n);
    s->in_ += n;
    s->in_len_ -= n;
    return int(n);
  }
  static long ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
  static int create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }
};

namespace {

const BIO_METHOD* memory_method() {
  static const BIO_METHOD* m = [] {
    BIO_METHOD* method = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "ringway-memory");
    BIO_meth_set_write(method, BioAccess::write);
    BIO_meth_set_read(method, BioAccess::read);
    BIO_meth_set_ctrl(method, BioAccess::ctrl);
    BIO_meth_set_create(method, BioAccess::create);
    return method;
  }();
  return m;
}

// Plaintext is taken from BoringSSL this much at a time (one TLS record's worth).
constexpr size_t kReadChunk = 16384;

}  // namespace

Counters& counters() {
  static Counters c;
  return c;
}

Session::Session(std::shared_ptr<const ServerContexts> contexts) : contexts_(std::move(contexts)) {
  ssl_ = SSL_new(contexts_->default_context());
  if (!ssl_) return;
  BIO* bio = BIO_new(memory_method());
  if (!bio) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one BIO both ways: the SSL takes our one reference
  SSL_set_accept_state(ssl_);
  // Drop the handshake-only configuration (certificate chain references, cipher and curve
  // lists, ...) once the handshake is done: an idle session keeps only what records need.
  SSL_set_shed_handshake_config(ssl_, 1);
}

void Session::init_client(SSL_CTX* ctx) {
  ssl_ = SSL_new(ctx);
  if (!ssl_) return;
  BIO* bio = BIO_new(memory_method());
  if (!bio) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_connect_state(ssl_);
}

Session::Session(SSL_CTX* client_ctx, const std::string& server_name, bool verify_name) {
  init_client(client_ctx);
  if (!ssl_ || server_name.empty()) return;
  SSL_set_tlsext_host_name(ssl_, server_name.c_str());
  if (verify_name) SSL_set1_host(ssl_, server_name.c_str());
}

Session::Session(const ClientContext& ctx, const std::string& host) {
  init_client(ctx.get());
  if (ssl_) prepare_client(ssl_, ctx, host);
}

std::string Session::certificate_error() const { return tls::certificate_error(ssl_, error_); }

Session::~Session() {
  if (ssl_) SSL_free(ssl_);
}

bool Session::start_handshake() {
  drive_handshake();  // writes the ClientHello; completes later, in on_recv
  return error_.empty();
}

bool Session::drive_handshake() {
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    counters().handshakes.fetch_add(1, std::memory_order_relaxed);
    if (SSL_session_reused(ssl_)) counters().resumed.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ && !write_failed_) return false;  // more bytes from the peer
  error_ = e == SSL_ERROR_SSL ? last_error() : "handshake error " + std::to_string(e);
  ERR_clear_error();
  return false;
}

io::Transport::In Session::on_recv(std::span<const uint8_t> bytes, io::PlaintextSink& sink) {
  in_ = bytes.data();
  in_len_ = bytes.size();
  if (!handshake_done_) {
    if (!drive_handshake()) {
      in_ = nullptr;
      in_len_ = 0;
      if (!error_.empty()) {
        counters().failed.fetch_add(1, std::memory_order_relaxed);
        return In::kFailed;
      }
      return In::kOk;
    }
  }
  In r = read_plaintext(sink);
  in_ = nullptr;
  in_len_ = 0;
  return r;
}

io::Transport::In Session::read_plaintext(io::PlaintextSink& sink) {
  uint8_t buf[kReadChunk];
  for (;;) {
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      sink.plaintext({buf, size_t(n)});
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ && !write_failed_) return In::kOk;
    if (e == SSL_ERROR_ZERO_RETURN) return In::kPeerClosed;
    error_ = e == SSL_ERROR_SSL ? last_error() : "read error " + std::to_string(e);
    ERR_clear_error();
    counters().failed.fetch_add(1, std::memory_order_relaxed);
    return In::kFailed;
  }
}

bool Session::seal(std::span<const uint8_t> plaintext) {
  if (closed_ || !handshake_done_) return false;
  while (!plaintext.empty()) {
    int chunk = int(std::min<size_t>(plaintext.size(), 1 << 20));
    int n = SSL_write(ssl_, plaintext.data(), chunk);
    if (n <= 0) {
      error_ = last_error();
      return false;
    }
    plaintext = plaintext.subspan(size_t(n));
  }
  return !write_failed_;
}

void Session::seal_close() {
  if (closed_) return;
  closed_ = true;
  SSL_shutdown(ssl_);  // writes close_notify; the peer's is not waited for here
  ERR_clear_error();
}

std::span<const uint8_t> Session::output() {
  if (sent_ == sending_.size()) {
    // The previous output is all gone: the records written since become the next output.
    sending_.release();
    sent_ = 0;
    std::swap(sending_, pending_);
  }
  return {sending_.data() + sent_, sending_.size() - sent_};
}

void Session::consumed(size_t n) {
  sent_ += n;
  if (sent_ >= sending_.size()) {
    sending_.release();
    sent_ = 0;
  }
}

io::Transport* ServerFactory::create() {
  auto* s = new Session(current());
  if (!s->ok()) {
    delete s;
    return nullptr;
  }
  return s;
}

}  // namespace ringway::tls
