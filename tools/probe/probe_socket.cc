#include "probe/probe_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <openssl/err.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tls/context.h"

namespace ringway::probe {

namespace {

int poll_timeout_ms(Deadline deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > 60'000 ? 60'000 : int(ms);
}

std::string endpoint_text(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs(in6->sin6_port);
  std::string out = "[";
  out += host;
  out += "]:";
  out += std::to_string(port);
  return out;
}

}  // namespace

const char* io_name(Io status) {
  switch (status) {
    case Io::kOk: return "ok";
    case Io::kTimeout: return "timeout";
    case Io::kEof: return "EOF";
    case Io::kReset: return "reset";
    case Io::kError: return "error";
  }
  return "?";
}

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r: returns the message, in buf or in static storage.
  const char* msg = strerror_r(err, buf, sizeof buf);
  return msg ? std::string(msg) : "error " + std::to_string(err);
}

std::vector<Endpoint> resolve(const std::string& host, uint16_t port, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  std::vector<Endpoint> out;
  if (rc != 0) {
    if (error) *error = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return out;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Endpoint ep;
    std::memcpy(&ep.addr, ai->ai_addr, ai->ai_addrlen);
    ep.len = socklen_t(ai->ai_addrlen);
    ep.text = endpoint_text(ai->ai_addr);
    out.push_back(ep);
  }
  freeaddrinfo(res);
  if (out.empty() && error) *error = "no TCP address for '" + host + "'";
  return out;
}

ProbeSocket& ProbeSocket::operator=(ProbeSocket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    ssl_ = other.ssl_;
    other.fd_ = -1;
    other.ssl_ = nullptr;
  }
  return *this;
}

void ProbeSocket::close() {
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

ProbeSocket ProbeSocket::adopt(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return ProbeSocket(fd);
}

ProbeSocket ProbeSocket::connect(const Endpoint& ep, Deadline deadline, std::string* error,
                                 Options opts) {
  int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + errno_text(errno);
    return ProbeSocket();
  }
  ProbeSocket s(fd);
  if (opts.rcvbuf > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opts.rcvbuf, sizeof opts.rcvbuf);
  }
  if (opts.nodelay) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) == 0) return s;
  if (errno != EINPROGRESS) {
    if (error) *error = "connect to " + ep.text + ": " + errno_text(errno);
    return ProbeSocket();
  }
  short rev = s.wait(POLLOUT, deadline);
  if (rev == 0) {
    if (error) *error = "connect to " + ep.text + ": timed out";
    return ProbeSocket();
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    if (error) *error = "connect to " + ep.text + ": " + errno_text(err);
    return ProbeSocket();
  }
  return s;
}

short ProbeSocket::wait(short events, Deadline deadline) const {
  pollfd p{fd_, events, 0};
  while (true) {
    int rc = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (rc > 0) return p.revents ? p.revents : short(POLLNVAL);
    if (rc < 0 && errno != EINTR) return POLLERR;
    if (rc == 0 && Clock::now() >= deadline) return 0;
  }
}

IoResult ProbeSocket::from_errno(int err) const {
  IoResult r;
  r.err = err;
  r.status = (err == ECONNRESET || err == EPIPE || err == ECONNABORTED) ? Io::kReset : Io::kError;
  return r;
}

bool ProbeSocket::start_tls(const tls::ClientContext& ctx, const std::string& host,
                            Deadline deadline, std::string* error) {
  ssl_ = SSL_new(ctx.get());
  if (!ssl_ || !SSL_set_fd(ssl_, fd_)) {
    if (error) *error = "TLS: " + tls::last_error();
    return false;
  }
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  tls::prepare_client(ssl_, ctx, host);
  while (true) {
    int r = SSL_connect(ssl_);
    if (r == 1) return true;
    int e = SSL_get_error(ssl_, r);
    short want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (want && wait(want, deadline) != 0) continue;
    if (!error) return false;
    if (want) {
      *error = "TLS handshake: timed out";
    } else if (e == SSL_ERROR_SSL) {
      std::string why = tls::last_error();
      std::string cert = tls::certificate_error(ssl_, why);
      *error = cert.empty() ? "TLS handshake: " + why : "TLS: certificate refused: " + cert;
    } else {
      *error = "TLS handshake: connection closed" +
               (errno ? " (" + errno_text(errno) + ")" : std::string());
    }
    return false;
  }
}

// What an SSL_read/SSL_write that returned `ret` (<= 0) means, when it is not "wait".
IoResult ProbeSocket::tls_error(int ret) {
  int e = SSL_get_error(ssl_, ret);
  if (e == SSL_ERROR_ZERO_RETURN) return IoResult{Io::kEof, 0, 0};  // close_notify
  if (e == SSL_ERROR_SYSCALL) {
    int err = errno;
    ERR_clear_error();
    return err ? from_errno(err) : IoResult{Io::kEof, 0, 0};  // a FIN without close_notify
  }
  ERR_clear_error();
  return IoResult{Io::kError, 0, EPROTO};  // a bad record or an alert
}

IoResult ProbeSocket::send_some(const void* data, size_t len) {
  if (ssl_) {
    if (len == 0) return IoResult{Io::kOk, 0, 0};
    errno = 0;
    int n = SSL_write(ssl_, data, int(std::min<size_t>(len, 1 << 20)));
    if (n > 0) return IoResult{Io::kOk, size_t(n), 0};
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return IoResult{Io::kOk, 0, 0};
    IoResult r = tls_error(n);
    return r.status == Io::kEof ? from_errno(EPIPE) : r;
  }
  while (true) {
    ssize_t n = ::send(fd_, data, len, MSG_NOSIGNAL);
    if (n >= 0) return IoResult{Io::kOk, size_t(n), 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult{Io::kOk, 0, 0};
    return from_errno(errno);
  }
}

IoResult ProbeSocket::send_all(const void* data, size_t len, Deadline deadline) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < len) {
    IoResult r = send_some(p + done, len - done);
    if (r.status != Io::kOk) {
      r.n = done;
      return r;
    }
    done += r.n;
    if (done == len) break;
    if (r.n == 0) {
      IoResult w = wait_writable(deadline);
      if (w.status != Io::kOk) {
        w.n = done;
        return w;
      }
    }
  }
  return IoResult{Io::kOk, done, 0};
}

IoResult ProbeSocket::wait_writable(Deadline deadline) {
  short rev = wait(POLLOUT, deadline);
  if (rev == 0) return IoResult{Io::kTimeout, 0, 0};
  if (rev & (POLLERR | POLLNVAL)) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    return from_errno(err ? err : ECONNRESET);
  }
  if ((rev & POLLHUP) && !(rev & POLLOUT)) return from_errno(EPIPE);
  return IoResult{Io::kOk, 0, 0};
}

IoResult ProbeSocket::wait_hangup(Deadline deadline) {
  short rev = wait(POLLRDHUP, deadline);
  if (rev == 0) return IoResult{Io::kTimeout, 0, 0};
  if (rev & (POLLERR | POLLNVAL)) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    return from_errno(err ? err : ECONNRESET);
  }
  if (rev & POLLHUP) return from_errno(EPIPE);
  return IoResult{Io::kEof, 0, 0};  // POLLRDHUP: the peer's FIN is queued behind unread data
}

IoResult ProbeSocket::wait_error(Deadline deadline) {
  short rev = wait(0, deadline);
  if (rev == 0) return IoResult{Io::kTimeout, 0, 0};
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (rev & POLLNVAL) return from_errno(EBADF);
  return from_errno(err ? err : ECONNRESET);
}

IoResult ProbeSocket::read_some(void* buf, size_t cap, Deadline deadline) {
  while (ssl_) {
    errno = 0;
    int n = SSL_read(ssl_, buf, int(std::min<size_t>(cap, 1 << 20)));
    if (n > 0) return IoResult{Io::kOk, size_t(n), 0};
    int e = SSL_get_error(ssl_, n);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return tls_error(n);
    short rev = wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
    if (rev == 0) return IoResult{Io::kTimeout, 0, 0};
    if (rev & POLLNVAL) return from_errno(EBADF);
  }
  while (true) {
    ssize_t n = ::recv(fd_, buf, cap, 0);
    if (n > 0) return IoResult{Io::kOk, size_t(n), 0};
    if (n == 0) return IoResult{Io::kEof, 0, 0};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return from_errno(errno);
    short rev = wait(POLLIN, deadline);
    if (rev == 0) return IoResult{Io::kTimeout, 0, 0};
    if (rev & POLLNVAL) return from_errno(EBADF);
    // Anything else (data, FIN, error): loop and let recv() say which.
    if (!(rev & (POLLIN | POLLERR | POLLHUP)) && Clock::now() >= deadline) {
      return IoResult{Io::kTimeout, 0, 0};
    }
  }
}

bool ProbeSocket::shutdown_write() {
  if (ssl_) {
    SSL_shutdown(ssl_);  // our close_notify; the peer's is not waited for
    ERR_clear_error();
  }
  return ::shutdown(fd_, SHUT_WR) == 0;
}

size_t ProbeSocket::unread_bytes() const {
  int n = 0;
  if (ioctl(fd_, FIONREAD, &n) != 0 || n < 0) return 0;
  return size_t(n);
}

}  // namespace ringway::probe
