#include "probe/url.h"

#include <gtest/gtest.h>

namespace ringway::probe {
namespace {

WsUrl ok(std::string_view text) {
  std::string err;
  auto u = parse_ws_url(text, &err);
  EXPECT_TRUE(u.has_value()) << text << ": " << err;
  return u.value_or(WsUrl{});
}

std::string bad(std::string_view text) {
  std::string err;
  auto u = parse_ws_url(text, &err);
  EXPECT_FALSE(u.has_value()) << text;
  EXPECT_FALSE(err.empty()) << text;
  return err;
}

TEST(WsUrl, Ipv4WithPortAndPath) {
  WsUrl u = ok("ws://127.0.0.1:8080/echo");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.path, "/echo");
  EXPECT_FALSE(u.ipv6_literal);
  EXPECT_EQ(u.host_header(), "127.0.0.1:8080");
  EXPECT_EQ(u.to_string(), "ws://127.0.0.1:8080/echo");
}

TEST(WsUrl, Ipv6LiteralIsBracketedInHostHeader) {
  WsUrl u = ok("ws://[::1]:9000/ws?token=abc");
  EXPECT_EQ(u.host, "::1");
  EXPECT_TRUE(u.ipv6_literal);
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.path, "/ws?token=abc");
  EXPECT_EQ(u.host_header(), "[::1]:9000");
  EXPECT_EQ(ok("ws://[2001:db8::5]/").host, "2001:db8::5");
}

TEST(WsUrl, DefaultsPortAndPath) {
  WsUrl u = ok("ws://localhost");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(ok("ws://example.com:81").path, "/");
  EXPECT_EQ(ok("ws://example.com?x=1").path, "/?x=1");
  EXPECT_EQ(ok("ws://[::1]").port, 80);
}

TEST(WsUrl, WssDefaultsToPort443) {
  WsUrl u = ok("wss://localhost/ws");
  EXPECT_TRUE(u.secure);
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.to_string(), "wss://localhost:443/ws");
  EXPECT_FALSE(ok("ws://localhost/ws").secure);
}

TEST(WsUrl, SchemeIsCaseInsensitive) {
  EXPECT_EQ(ok("WS://h:1/").host, "h");
  EXPECT_EQ(ok("Ws://h:1/").port, 1);
}

TEST(WsUrl, HostNamesAreAllowed) {
  EXPECT_EQ(ok("ws://gateway.internal_x-1.example:443/a/b").host, "gateway.internal_x-1.example");
}

TEST(WsUrl, RejectsOtherSchemes) {
  EXPECT_NE(bad("http://h:1/").find("ws://"), std::string::npos);
  bad("http://h:1/");
  bad("h:1/");
  bad("");
}

TEST(WsUrl, RejectsBadPorts) {
  bad("ws://h:0/");
  bad("ws://h:65536/");
  bad("ws://h:99999/");
  bad("ws://h:/");
  bad("ws://h:12a/");
  bad("ws://h:-1/");
  bad("ws://[::1]:/");
  EXPECT_EQ(ok("ws://h:65535/").port, 65535);
}

TEST(WsUrl, RejectsBadHosts) {
  bad("ws:///path");
  bad("ws://:80/");
  bad("ws://[::1/");
  bad("ws://[not-v6]:80/");
  bad("ws://[::1]x/");
  EXPECT_NE(bad("ws://::1:80/").find("brackets"), std::string::npos);
  EXPECT_NE(bad("ws://fe80::1/").find("brackets"), std::string::npos);
  bad("ws://user:pw@h/");
  bad("ws://h h/");
}

TEST(WsUrl, RejectsFragmentsAndUnsafePathBytes) {
  bad("ws://h/#frag");
  bad("ws://h/a b");
  bad("ws://h/a\r\nX: y");
  bad(std::string_view("ws://h/a\0b", 10));
}

}  // namespace
}  // namespace ringway::probe
