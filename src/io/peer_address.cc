#include "io/peer_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace ringway::io {

PeerAddress PeerAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
  PeerAddress p;
  if (sa->sa_family == AF_INET && len >= socklen_t(sizeof(sockaddr_in))) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    p.addr[10] = p.addr[11] = 0xff;
    std::memcpy(&p.addr[12], &in->sin_addr, 4);
    p.port = ntohs(in->sin_port);
    p.known = true;
  } else if (sa->sa_family == AF_INET6 && len >= socklen_t(sizeof(sockaddr_in6))) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(p.addr.data(), &in6->sin6_addr, 16);
    p.port = ntohs(in6->sin6_port);
    p.known = true;
  }
  return p;
}

bool PeerAddress::is_v4() const {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(addr.data(), kMapped, 12) == 0;
}

std::string PeerAddress::to_string() const {
  if (!known) return "?";
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    inet_ntop(AF_INET, &addr[12], buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port);
  }
  inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
  return "[" + std::string(buf) + "]:" + std::to_string(port);
}

bool PeerAddress::is_loopback() const {
  if (is_v4()) return addr[12] == 127;
  static constexpr std::array<uint8_t, 16> kV6Loopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
  return addr == kV6Loopback;
}

}  // namespace ringway::io
