#include "load/upgrade.h"

#include <gtest/gtest.h>

#include <string>

namespace ringway::load {
namespace {

std::string response(std::string_view accept, std::string_view extra = "") {
  std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  r += "Sec-WebSocket-Accept: ";
  r += accept;
  r += "\r\n";
  r += extra;
  r += "\r\n";
  return r;
}

// RFC 6455 §1.3's example key and accept value.
constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

TEST(Upgrade, KeyIsBase64OfSixteenBytes) {
  std::string k = websocket_key(1);
  EXPECT_EQ(k.size(), kWebSocketKeyChars);
  EXPECT_EQ(k.substr(22), "==");
  EXPECT_NE(websocket_key(1), websocket_key(2));
  EXPECT_EQ(websocket_key(1), websocket_key(1));
}

TEST(Upgrade, RequestHasTheHandshakeHeaders) {
  ByteBuffer b;
  ASSERT_TRUE(append_upgrade_request(b, "127.0.0.1:8080", "/echo", kKey));
  std::string r(reinterpret_cast<const char*>(b.data()), b.size());
  EXPECT_EQ(r.rfind("GET /echo HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(r.find("\r\nHost: 127.0.0.1:8080\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nUpgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nConnection: Upgrade\r\n"), std::string::npos);
  EXPECT_NE(r.find(std::string("\r\nSec-WebSocket-Key: ") + std::string(kKey) + "\r\n"),
            std::string::npos);
  EXPECT_NE(r.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n");
}

TEST(Upgrade, AcceptsTheRfcExample) {
  int status;
  std::string err;
  EXPECT_TRUE(check_upgrade_response(response(kAccept), kKey, status, err)) << err;
  EXPECT_EQ(status, 101);
}

TEST(Upgrade, RefusesBadResponses) {
  int status;
  std::string err;
  EXPECT_FALSE(check_upgrade_response(response("AAAAAAAAAAAAAAAAAAAAAAAAAAA="), kKey, status, err));
  EXPECT_EQ(err, "wrong Sec-WebSocket-Accept");
  EXPECT_FALSE(check_upgrade_response("HTTP/1.1 503 Service Unavailable\r\n\r\n", kKey, status, err));
  EXPECT_EQ(status, 503);
  EXPECT_FALSE(check_upgrade_response(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
          std::string(kAccept) + "\r\n\r\n",
      kKey, status, err));
  EXPECT_EQ(err, "101 without Upgrade: websocket");
  EXPECT_FALSE(check_upgrade_response(response(kAccept, std::string("Sec-WebSocket-Accept: ") +
                                                            std::string(kAccept) + "\r\n"),
                                      kKey, status, err));
  EXPECT_FALSE(check_upgrade_response("garbage\r\n\r\n", kKey, status, err));
  EXPECT_EQ(status, 0);
}

TEST(Upgrade, HeaderNamesAndTokensAreCaseInsensitive) {
  std::string r = "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, upgrade\r\n"
                  "sec-websocket-accept: " + std::string(kAccept) + "\r\n\r\n";
  int status;
  std::string err;
  EXPECT_TRUE(check_upgrade_response(r, kKey, status, err)) << err;
}

TEST(ResponseHeadReader, FindsTheEndInEverySplitAndLeavesTheRest) {
  std::string head = response(kAccept);
  std::string stream = head + "\x81\x02hi";
  for (size_t a = 0; a <= stream.size(); ++a) {
    ResponseHeadReader r;
    const auto* p = reinterpret_cast<const uint8_t*>(stream.data());
    size_t used = r.feed({p, a});
    size_t used2 = 0;
    if (r.state() == ResponseHeadReader::State::kNeedMore)
      used2 = r.feed({p + a, stream.size() - a});
    ASSERT_EQ(r.state(), ResponseHeadReader::State::kComplete) << a;
    EXPECT_EQ(r.head(), head) << a;
    // Bytes after the head are not consumed: they are the first frame.
    size_t total = a <= head.size() ? used + used2 : used;
    EXPECT_EQ(total, head.size()) << a;
  }
}

TEST(ResponseHeadReader, RefusesAnEndlessHead) {
  ResponseHeadReader r;
  std::string junk(kMaxResponseHead + 10, 'x');
  r.feed({reinterpret_cast<const uint8_t*>(junk.data()), junk.size()});
  EXPECT_EQ(r.state(), ResponseHeadReader::State::kError);
}

}  // namespace
}  // namespace ringway::load
