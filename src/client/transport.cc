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

namespace ringway::client {

namespace {

std::string errno_text(const char* what, int e) { return std::string(what) + ": " + std::strerror(e); }

class TcpTransport final : public Transport {
 public:
  TcpTransport(int fd, bool connected) : fd_(fd), connecting_(!connected) {}
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
    if (soerr != 0) {
      err = errno_text("connect", soerr);
      return Io::kError;
    }
    sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) {
      if (errno == ENOTCONN) return Io::kWouldBlock;
      err = errno_text("connect", errno);
      return Io::kError;
    }
    connecting_ = false;
    return Io::kDone;
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
};

}  // namespace

std::unique_ptr<Transport> open_transport(const Url& url, std::string& err) {
  if (url.secure) {
    err = "wss:// (TLS) is not supported by this client yet";
    return nullptr;
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
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno_text("socket", errno);
    freeaddrinfo(res);
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  int e = errno;
  freeaddrinfo(res);
  if (rc != 0 && e != EINPROGRESS) {
    ::close(fd);
    err = errno_text("connect", e);
    return nullptr;
  }
  return std::make_unique<TcpTransport>(fd, false);
}

std::unique_ptr<Transport> adopt_socket(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  return std::make_unique<TcpTransport>(fd, true);
}

}  // namespace ringway::client
