#include "http/handshake.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace ringway::http {
namespace {

constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

// Parses a request made of the given request line and header lines; keeps the parser alive so
// the Request's views stay valid.
class ParsedRequest {
 public:
  ParsedRequest(std::string_view request_line, std::string_view header_lines) {
    const std::string head =
        std::string(request_line) + "\r\nHost: h\r\n" + std::string(header_lines) + "\r\n";
    parser_.feed({reinterpret_cast<const uint8_t*>(head.data()), head.size()});
    EXPECT_EQ(parser_.state(), ParseState::kComplete) << head;
  }
  const Request& request() const { return parser_.request(); }

 private:
  UpgradeParser parser_;
};

UpgradeCheck check(std::string_view request_line, std::string_view header_lines) {
  ParsedRequest parsed(request_line, header_lines);
  UpgradeCheck result = check_upgrade(parsed.request());
  result.key = {};  // points into the parser, which is gone
  return result;
}

int status_of(std::string_view header_lines, std::string_view request_line = "GET /ws HTTP/1.1") {
  return check(request_line, header_lines).status;
}

constexpr std::string_view kValidHeaders =
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

TEST(CheckUpgrade, AcceptsAValidUpgradeAndReturnsTheKey) {
  ParsedRequest parsed("GET /ws HTTP/1.1", kValidHeaders);
  const UpgradeCheck result = check_upgrade(parsed.request());
  EXPECT_EQ(result.status, 0);
  EXPECT_EQ(result.key, kSampleKey);
}

TEST(CheckUpgrade, TokensAreCaseInsensitiveListElements) {
  EXPECT_EQ(status_of("Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
            0);
  EXPECT_EQ(status_of("Upgrade: h2c ,\tWEBSOCKET\r\nConnection: UPGRADE,keep-alive\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
            0);
  // Connection split over two header lines.
  EXPECT_EQ(status_of("Upgrade: websocket\r\nConnection: keep-alive\r\nConnection: upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"),
            0);
  EXPECT_EQ(status_of(kValidHeaders, "GET /ws HTTP/1.9"), 0);
}

TEST(CheckUpgrade, NonGetIs405) {
  EXPECT_EQ(status_of(kValidHeaders, "POST /ws HTTP/1.1"), 405);
  EXPECT_EQ(status_of(kValidHeaders, "HEAD /ws HTTP/1.1"), 405);
  EXPECT_EQ(status_of(kValidHeaders, "get /ws HTTP/1.1"), 405);  // methods are case-sensitive
  EXPECT_EQ(status_of("", "PUT /ws HTTP/1.0"), 405);               // method is checked first
}

TEST(CheckUpgrade, MalformedUpgradeIs400) {
  EXPECT_EQ(status_of(kValidHeaders, "GET /ws HTTP/1.0"), 400);
  const char* const bad[] = {
      // Upgrade missing or without the token
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket2\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: web socket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      // Connection missing or without the token
      "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: upgraded\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      // Key missing, twice, or not base64 of 16 bytes
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key:\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n"
      "Sec-WebSocket-Version: 13\r\n",  // 15 bytes
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==AAAA\r\n"
      "Sec-WebSocket-Version: 13\r\n",  // 19 bytes
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-_\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25j=Q==\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBs ZSBub25jZQ=\r\n"
      "Sec-WebSocket-Version: 13\r\n",
      // Version sent twice
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
  };
  for (const char* headers : bad) EXPECT_EQ(status_of(headers), 400) << headers;
}

TEST(CheckUpgrade, OtherVersionIs426) {
  const char* const versions[] = {"", "Sec-WebSocket-Version: 8\r\n",
                                  "Sec-WebSocket-Version: 13, 8\r\n",
                                  "Sec-WebSocket-Version: 013\r\n",
                                  "Sec-WebSocket-Version:\r\n"};
  for (const char* version : versions) {
    const std::string headers =
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        std::string(version);
    EXPECT_EQ(status_of(headers), 426) << headers;
  }
  // The version is checked before the key.
  EXPECT_EQ(status_of("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 7\r\n"),
            426);
}

TEST(ComputeAcceptKey, MatchesRfc6455Sample) {
  char accept[kAcceptKeyLength];
  compute_accept_key(kSampleKey, accept);
  EXPECT_EQ(std::string_view(accept, kAcceptKeyLength), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(ComputeAcceptKey, WritesExactlyTheAcceptLength) {
  char out[kAcceptKeyLength + 4];
  std::memset(out, '#', sizeof out);
  compute_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out);
  EXPECT_EQ(std::string_view(out, kAcceptKeyLength), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  EXPECT_EQ(std::string_view(out + kAcceptKeyLength, 4), "####");
}

}  // namespace
}  // namespace ringway::http
