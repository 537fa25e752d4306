// URLs, the upgrade request (as the gateway's own parser reads it) and the check of the 101.
#include <gtest/gtest.h>

#include "client/handshake.h"
#include "client/url.h"
#include "http/handshake.h"
#include "http/upgrade_parser.h"

namespace ringway::client {
namespace {

TEST(Url, Forms) {
  std::string err;
  auto u = parse_url("ws://127.0.0.1:8080/ws", err);
  ASSERT_TRUE(u) << err;
  EXPECT_FALSE(u->secure);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/ws");
  EXPECT_EQ(u->host_header(), "127.0.0.1:8080");

  u = parse_url("ws://example.com", err);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->host_header(), "example.com");

  u = parse_url("ws://[::1]:9000/ws?x=1", err);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->ipv6_literal);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->target, "/ws?x=1");
  EXPECT_EQ(u->host_header(), "[::1]:9000");
  EXPECT_EQ(u->to_string(), "ws://[::1]:9000/ws?x=1");

  u = parse_url("ws://h?q", err);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?q");

  u = parse_url("wss://gw.example:443/ws", err);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->secure);
  EXPECT_EQ(u->host_header(), "gw.example");
}

TEST(Url, Refusals) {
  for (const char* bad : {"http://x/", "ws://", "ws://:80/", "ws://h:0/", "ws://h:65536/",
                          "ws://h:/", "ws://h:x/", "ws://[::1/", "ws://[::1]x/", "ws://u@h/",
                          "ws://h/a b", "ws://h/#frag", "ws://ho st/"}) {
    std::string err;
    EXPECT_FALSE(parse_url(bad, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(Handshake, RequestPassesTheGatewaysCheck) {
  std::string err;
  auto u = parse_url("ws://127.0.0.1:8080/ws", err);
  std::array<uint8_t, 16> nonce{};
  for (int i = 0; i < 16; ++i) nonce[i] = uint8_t(i * 7);
  std::string key = websocket_key(nonce);
  EXPECT_EQ(key.size(), 24u);
  std::string req = upgrade_request(*u, key);
  http::UpgradeParser p;
  p.feed({reinterpret_cast<const uint8_t*>(req.data()), req.size()});
  ASSERT_EQ(p.state(), http::ParseState::kComplete);
  EXPECT_EQ(p.request().path, "/ws");
  EXPECT_EQ(p.request().header("host"), "127.0.0.1:8080");
  http::UpgradeCheck c = http::check_upgrade(p.request());
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(c.key, key);
}

std::string accept_for(std::string_view key) {
  char out[http::kAcceptKeyLength];
  http::compute_accept_key(key, out);
  return std::string(out, sizeof out);
}

TEST(Handshake, ResponseChecks) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_for(key) +
                           "\r\n\r\n";
  EXPECT_EQ(accept_for(key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455 §1.3
  UpgradeAnswer a = check_upgrade_response(good, key);
  EXPECT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.status, 101);

  a = check_upgrade_response("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n", key);
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.error, "HTTP 503 Service Unavailable");

  a = check_upgrade_response("SSH-2.0-OpenSSH\r\n\r\n", key);
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.status, 0);

  std::string wrong = good;
  wrong.replace(wrong.find("s3pP"), 4, "AAAA");
  EXPECT_EQ(check_upgrade_response(wrong, key).error, "wrong Sec-WebSocket-Accept");
  std::string no_upgrade = "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                           accept_for(key) + "\r\n\r\n";
  EXPECT_FALSE(check_upgrade_response(no_upgrade, key).ok);
  std::string lists = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                      "sec-websocket-accept: " + accept_for(key) + "\r\n\r\n";
  EXPECT_TRUE(check_upgrade_response(lists, key).ok);
}

TEST(Handshake, DeflateOfferIsWhatTheGatewayNegotiatesAndItsAnswerIsReadBack) {
  std::string err;
  auto u = parse_url("ws://127.0.0.1:8080/echo", err);
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  std::string req = upgrade_request(*u, key, kDeflateOffer);
  http::UpgradeParser p;
  p.feed({reinterpret_cast<const uint8_t*>(req.data()), req.size()});
  ASSERT_EQ(p.state(), http::ParseState::kComplete);
  std::string_view offer = p.request().header("sec-websocket-extensions");
  EXPECT_EQ(offer, kDeflateOffer);
  for (ws::DeflateMode mode : {ws::DeflateMode::kOn, ws::DeflateMode::kTakeover}) {
    ws::DeflateAgreement server = ws::negotiate_deflate({&offer, 1}, mode, true);
    ASSERT_TRUE(server.accepted);
    char value[ws::kMaxDeflateResponse];
    size_t n = ws::format_deflate_response(server, value, sizeof value);
    std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_for(key) +
                       "\r\nSec-WebSocket-Extensions: " + std::string(value, n) + "\r\n\r\n";
    UpgradeAnswer a = check_upgrade_response(head, key, true);
    ASSERT_TRUE(a.ok) << a.error << " for " << std::string(value, n);
    EXPECT_TRUE(a.deflate.accepted);
    EXPECT_EQ(a.deflate.server_no_context_takeover, server.server_no_context_takeover);
    EXPECT_EQ(a.deflate.client_no_context_takeover, server.client_no_context_takeover);
    EXPECT_EQ(a.deflate.client_window_bits, server.client_window_bits);
    // The same answer to a client that offered nothing fails its handshake (RFC 6455 §4.1).
    a = check_upgrade_response(head, key, false);
    EXPECT_FALSE(a.ok);
    EXPECT_EQ(a.error, "Sec-WebSocket-Extensions in the 101, none was offered");
  }
}

TEST(Handshake, DeflateAnswersOutsideTheGrammarAreRefused) {
  ws::DeflateAgreement a;
  ASSERT_TRUE(parse_deflate_answer("permessage-deflate", a));
  EXPECT_TRUE(a.accepted);
  EXPECT_FALSE(a.server_no_context_takeover);  // left out: the server keeps its context
  EXPECT_EQ(a.server_window_bits, 15);
  ASSERT_TRUE(parse_deflate_answer(
      "Permessage-Deflate ; server_no_context_takeover;client_max_window_bits=\"10\"; "
      "server_max_window_bits=9", a));
  EXPECT_TRUE(a.server_no_context_takeover);
  EXPECT_FALSE(a.client_no_context_takeover);
  EXPECT_EQ(a.client_window_bits, 10);
  EXPECT_EQ(a.server_window_bits, 9);
  for (const char* bad : {"x-webkit-deflate-frame", "permessage-deflate; foo",
                          "permessage-deflate; server_no_context_takeover=1",
                          "permessage-deflate; client_max_window_bits",
                          "permessage-deflate; client_max_window_bits=16",
                          "permessage-deflate; client_max_window_bits=7",
                          "permessage-deflate; client_max_window_bits=09",
                          "permessage-deflate; server_no_context_takeover; "
                          "server_no_context_takeover"})
    EXPECT_FALSE(parse_deflate_answer(bad, a)) << bad;
}

TEST(Handshake, HeadReaderStopsAtTheBlankLineAndAtTheLimit) {
  ResponseHead h;
  std::string bytes = "HTTP/1.1 101 X\r\n\r\n\x81\x02hi";
  size_t used = h.feed({reinterpret_cast<const uint8_t*>(bytes.data()), 10});
  EXPECT_EQ(used, 10u);
  EXPECT_EQ(h.state(), ResponseHead::State::kNeedMore);
  used = h.feed({reinterpret_cast<const uint8_t*>(bytes.data()) + 10, bytes.size() - 10});
  EXPECT_EQ(h.state(), ResponseHead::State::kComplete);
  EXPECT_EQ(10 + used, bytes.size() - 4);  // the frame is left for the WebSocket reader
  EXPECT_EQ(h.text(), "HTTP/1.1 101 X\r\n\r\n");

  ResponseHead big;
  std::string junk(kMaxResponseHead + 10, 'a');
  big.feed({reinterpret_cast<const uint8_t*>(junk.data()), junk.size()});
  EXPECT_EQ(big.state(), ResponseHead::State::kTooLong);
}

}  // namespace
}  // namespace ringway::client
