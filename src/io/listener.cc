#include "io/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace ringway::io {

bool parse_listen_address(const std::string& text, ListenAddress& out, std::string& err) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      err = "expected [IPv6]:PORT, got '" + text + "'";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      err = "expected HOST:PORT, got '" + text + "'";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || p != port.data() + port.size() || value > 65535 || port.empty()) {
    err = "bad port '" + port + "'";
    return false;
  }
  in6_addr a6;
  in_addr a4;
  if (inet_pton(AF_INET, host.c_str(), &a4) != 1 && inet_pton(AF_INET6, host.c_str(), &a6) != 1) {
    err = "bad listen host '" + host + "' (use a numeric IPv4 or IPv6 address)";
    return false;
  }
  out.host = host;
  out.port = uint16_t(value);
  return true;
}

namespace {

int open_one(const ListenAddress& addr, uint16_t port, const ListenOptions& opts,
             std::string& err) {
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  in_addr a4;
  if (inet_pton(AF_INET, addr.host.c_str(), &a4) == 1) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr = a4;
    in->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    family = AF_INET;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, addr.host.c_str(), &in6->sin6_addr);
    in6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Accepted sockets inherit these, so no per-connection setsockopt is needed.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (opts.keepalive_idle_s > 0) {
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &opts.keepalive_idle_s, sizeof(int));
    if (opts.keepalive_interval_s > 0)
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &opts.keepalive_interval_s, sizeof(int));
    if (opts.keepalive_count > 0)
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &opts.keepalive_count, sizeof(int));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    err = "bind " + addr.host + ":" + std::to_string(port) + ": " + strerror(errno);
    close(fd);
    return -1;
  }
  if (listen(fd, opts.backlog) != 0) {
    err = std::string("listen: ") + strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace

std::vector<int> open_listeners(const ListenAddress& addr, unsigned count,
                                const ListenOptions& opts, uint16_t& bound_port,
                                std::string& err) {
  std::vector<int> fds;
  uint16_t port = addr.port;
  for (unsigned i = 0; i < count; ++i) {
    int fd = open_one(addr, port, opts, err);
    if (fd < 0) {
      for (int f : fds) close(f);
      return {};
    }
    if (i == 0) port = local_port(fd);
    fds.push_back(fd);
  }
  bound_port = port;
  return fds;
}

}  // namespace ringway::io
