#pragma once
// A connection's peer address in 20 bytes (IPv4 is stored as IPv4-mapped IPv6).
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>

namespace ringway::io {

struct PeerAddress {
  std::array<uint8_t, 16> addr{};  // IPv6, or IPv4-mapped
  uint16_t port = 0;               // host order
  bool known = false;

  static PeerAddress from_sockaddr(const sockaddr* sa, socklen_t len);
  bool is_v4() const;
  bool is_loopback() const;  // 127.0.0.0/8 or ::1
  std::string to_string() const;  // "1.2.3.4:5" / "[::1]:5" / "?" when unknown
};

}  // namespace ringway::io
