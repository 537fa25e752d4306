#include "io/peer_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace ringway::io {
namespace {

TEST(PeerAddress, FormatsIPv4AndIPv6) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(4242);
  inet_pton(AF_INET, "127.0.0.3", &in.sin_addr);
  PeerAddress p = PeerAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&in), sizeof in);
  EXPECT_TRUE(p.known);
  EXPECT_TRUE(p.is_v4());
  EXPECT_EQ(p.to_string(), "127.0.0.3:4242");

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(1);
  inet_pton(AF_INET6, "::1", &in6.sin6_addr);
  p = PeerAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&in6), sizeof in6);
  EXPECT_FALSE(p.is_v4());
  EXPECT_EQ(p.to_string(), "[::1]:1");
}

TEST(PeerAddress, ShortOrUnknownIsUnknown) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  PeerAddress p = PeerAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&in), 4);
  EXPECT_FALSE(p.known);
  EXPECT_EQ(p.to_string(), "?");
}

}  // namespace
}  // namespace ringway::io
