#pragma once
// A blocking-style client socket where every wait has a deadline: the descriptor is
// non-blocking and each call polls until its deadline, so no probe step can hang. After
// start_tls() (wss://) reads and sends go through a BoringSSL session on the descriptor; the
// waits without I/O (wait_hangup, wait_error) and unread_bytes still look at the TCP socket.
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ringway::tls {
class ClientContext;
}

namespace ringway::probe {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "127.0.0.1:8080" / "[::1]:8080"
};

// getaddrinfo for TCP; every address, in resolver order. Empty with *error set on failure.
std::vector<Endpoint> resolve(const std::string& host, uint16_t port, std::string* error);

// How an I/O call ended.
enum class Io {
  kOk,       // progress: n bytes moved (for wait_* calls: the condition holds)
  kTimeout,  // the deadline passed first
  kEof,      // the peer's FIN (read side)
  kReset,    // ECONNRESET / EPIPE: the peer closed the connection hard or was gone
  kError,    // any other errno (in err)
};

struct IoResult {
  Io status = Io::kOk;
  size_t n = 0;
  int err = 0;
};

const char* io_name(Io status);
// strerror, safe to call from the checks' threads.
std::string errno_text(int err);

class ProbeSocket {
 public:
  struct Options {
    int rcvbuf = 0;  // SO_RCVBUF set before connect (0: the kernel's default)
    bool nodelay = true;
  };

  ProbeSocket() = default;
  ~ProbeSocket() { close(); }
  ProbeSocket(ProbeSocket&& other) noexcept : fd_(other.fd_), ssl_(other.ssl_) {
    other.fd_ = -1;
    other.ssl_ = nullptr;
  }
  ProbeSocket& operator=(ProbeSocket&& other) noexcept;
  ProbeSocket(const ProbeSocket&) = delete;
  ProbeSocket& operator=(const ProbeSocket&) = delete;

  // Connects before the deadline. On failure the result is invalid and *error says why.
  static ProbeSocket connect(const Endpoint& ep, Deadline deadline, std::string* error,
                             Options opts);
  static ProbeSocket connect(const Endpoint& ep, Deadline deadline, std::string* error) {
    return connect(ep, deadline, error, Options{});
  }
  // Wraps an already connected descriptor (tests use a socketpair); takes ownership.
  static ProbeSocket adopt(int fd);

  // The TLS handshake for `host` on ctx (SNI, certificate check) before the deadline. False
  // with *error set (a refused certificate says so).
  bool start_tls(const tls::ClientContext& ctx, const std::string& host, Deadline deadline,
                 std::string* error);
  bool tls() const { return ssl_ != nullptr; }

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close();

  // Sends everything unless the deadline passes or the connection fails; n = bytes sent.
  IoResult send_all(const void* data, size_t len, Deadline deadline);
  // One attempt without waiting: n may be 0 when the send buffer is full.
  IoResult send_some(const void* data, size_t len);
  // Waits for at least one byte: kOk with n > 0, kEof, kReset, kError or kTimeout.
  IoResult read_some(void* buf, size_t cap, Deadline deadline);
  // Waits until the socket is writable (kOk), fails (kReset/kError) or the deadline passes.
  IoResult wait_writable(Deadline deadline);
  // Waits without reading or writing: kReset/kError when the connection fails, kEof when the
  // peer's FIN has arrived (POLLRDHUP; unread data may still precede it), kTimeout otherwise.
  IoResult wait_hangup(Deadline deadline);

  // Waits, without reading or writing, only for the connection to fail: kReset/kError, or
  // kTimeout. Unlike wait_hangup it ignores a FIN that has already arrived.
  IoResult wait_error(Deadline deadline);

  // TCP FIN (after TLS close_notify when TLS is on).
  bool shutdown_write();
  // Bytes received and not read yet (SIOCINQ).
  size_t unread_bytes() const;

 private:
  explicit ProbeSocket(int fd) : fd_(fd) {}
  // poll() until one of `events` (or an error/hangup) or the deadline. Returns revents, 0 on
  // timeout.
  short wait(short events, Deadline deadline) const;
  IoResult from_errno(int err) const;
  IoResult tls_error(int ret);

  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

}  // namespace ringway::probe
