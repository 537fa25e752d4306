// Plain TCP transport: non-blocking connect, recv/send, FIN (transport.h).
#include "client/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "tls/context.h"

namespace ringway::client {

namespace {

std::string errno_text(const char* what, int e) { return std::string(what) + ": " + std::strerror(e); }

// Starts a non-blocking connect; -1 with err set when it failed at once.
int start_connect(const SocketAddress& a, std::string& err) {
  int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno_text("socket", errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) != 0 && errno != EINPROGRESS) {
    err = errno_text("connect", errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Tries the resolved addresses in order (localhost may be ::1 then 127.0.0.1): a failed connect
// moves on to the next one with a new socket, so fd() can change until handshake() is done.
class TcpTransport final : public Transport {
 public:
  TcpTransport(int fd, bool connected, std::vector<SocketAddress> rest = {})
      : fd_(fd), connecting_(!connected), rest_(std::move(rest)) {}
  ~TcpTransport() override {
    if (fd_ >= 0) ::close(fd_);
  }

  int fd() const override { return fd_; }
  bool wants_write() const override { return connecting_; }

  Io handshake(std::string& err) override {
    if (!connecting_) return Io::kDone;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
    if (soerr == 0) {
      sockaddr_storage peer;
      socklen_t plen = sizeof peer;
      if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) {
        connecting_ = false;
        return Io::kDone;
      }
      if (errno == ENOTCONN) return Io::kWouldBlock;
      soerr = errno;
    }
    err = errno_text("connect", soerr);
    while (!rest_.empty()) {  // the next address
      SocketAddress next = rest_.front();
      rest_.erase(rest_.begin());
      std::string why;
      int fd = start_connect(next, why);
      if (fd < 0) continue;
      ::close(fd_);
      fd_ = fd;
      return Io::kWouldBlock;
    }
    return Io::kError;
  }

  Io read(std::span<uint8_t> buf, size_t& got, std::string& err) override {
    got = 0;
    for (;;) {
      ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n > 0) {
        got = size_t(n);
        return Io::kDone;
      }
      if (n == 0) return Io::kClosed;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kWouldBlock;
      err = errno_text("recv", errno);
      return Io::kError;
    }
  }

  Io write(std::span<const uint8_t> buf, size_t& put, std::string& err) override {
    put = 0;
    for (;;) {
      ssize_t n = ::send(fd_, buf.data(), buf.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        put = size_t(n);
        return Io::kDone;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kWouldBlock;
      err = errno_text("send", errno);
      return Io::kError;
    }
  }

  void shutdown_write() override { ::shutdown(fd_, SHUT_WR); }

 private:
  int fd_;
  bool connecting_;
  std::vector<SocketAddress> rest_;  // addresses not tried yet
};

}  // namespace

std::unique_ptr<Transport> open_transport(const Url& url, std::string& err,
                                          std::shared_ptr<tls::ClientContext> tls) {
  if (url.secure && !tls) {
    tls = tls::ClientContext::make(false, "", true, err);
    if (!tls) return nullptr;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | (url.ipv6_literal ? AI_NUMERICHOST : 0);
  addrinfo* res = nullptr;
  std::string port = std::to_string(url.port);
  int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    err = "cannot resolve " + url.host + ": " + gai_strerror(rc);
    return nullptr;
  }
  std::vector<SocketAddress> addrs;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress a{};
    std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    addrs.push_back(a);
  }
  freeaddrinfo(res);
  if (addrs.empty()) {
    err = "no address for " + url.host;
    return nullptr;
  }
  auto tcp = open_tcp(std::move(addrs), err);
  if (!tcp || !url.secure) return tcp;
  return open_tls(std::move(tcp), url.host, std::move(tls));
}

std::unique_ptr<Transport> open_tcp(std::vector<SocketAddress> addrs, std::string& err) {
  for (size_t i = 0; i < addrs.size(); ++i) {
    int fd = start_connect(addrs[i], err);
    if (fd >= 0)
      return std::make_unique<TcpTransport>(
          fd, false, std::vector<SocketAddress>(addrs.begin() + std::ptrdiff_t(i) + 1, addrs.end()));
  }
  return nullptr;
}

std::unique_ptr<Transport> adopt_socket(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return std::make_unique<TcpTransport>(fd, true);
}

}  // namespace ringway::client
