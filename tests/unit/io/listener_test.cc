#include "io/listener.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace ringway::io {
namespace {

TEST(ListenAddress, ParsesIPv4IPv6AndBarePort) {
  ListenAddress a;
  std::string err;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:8080", a, err)) << err;
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  ASSERT_TRUE(parse_listen_address("[::1]:0", a, err)) << err;
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 0);
  ASSERT_TRUE(parse_listen_address(":9000", a, err)) << err;
  EXPECT_EQ(a.host, "0.0.0.0");
}

TEST(ListenAddress, RejectsBadInputWithAReason) {
  ListenAddress a;
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "localhost:80", "[::1]80", "[::1:80", "1.2.3.4:80x"}) {
    std::string err;
    EXPECT_FALSE(parse_listen_address(bad, a, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Listeners, PortZeroSharesOnePortAcrossWorkers) {
  ListenAddress a{"127.0.0.1", 0};
  uint16_t port = 0;
  std::string err;
  auto fds = open_listeners(a, 3, ListenOptions{}, port, err);
  ASSERT_EQ(fds.size(), 3u) << err;
  EXPECT_NE(port, 0);
  for (int fd : fds) close(fd);
}

}  // namespace
}  // namespace ringway::io
