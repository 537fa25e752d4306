#include "http/responses.h"

#include <gtest/gtest.h>

#include <string>

namespace ringway::http {
namespace {

std::string response(int status) {
  char out[kMaxResponseBytes];
  return std::string(out, write_response(status, out, sizeof out));
}

TEST(WriteSwitchingProtocols, WritesTheRfc6455SampleResponse) {
  char out[kMaxResponseBytes];
  const size_t length = write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", out, sizeof out);
  EXPECT_EQ(std::string_view(out, length),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

TEST(WriteSwitchingProtocols, NamesTheNegotiatedExtension) {
  char out[kMaxResponseBytes];
  const size_t length = write_switching_protocols(
      "dGhlIHNhbXBsZSBub25jZQ==", out, sizeof out,
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  EXPECT_EQ(std::string_view(out, length),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover\r\n"
            "\r\n");
}

TEST(WriteSwitchingProtocols, ReturnsZeroWhenCapIsTooSmall) {
  char out[kMaxResponseBytes];
  const size_t length = write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", out, sizeof out);
  for (size_t cap = 0; cap < length; ++cap) {
    EXPECT_EQ(write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", out, cap), 0u) << cap;
  }
  EXPECT_EQ(write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", out, length), length);
}

TEST(WriteResponse, WritesHealthAndDraining) {
  EXPECT_EQ(response(200),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\nok\n");
  EXPECT_EQ(response(503),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
            "Connection: close\r\n\r\ndraining\n");
}

TEST(WriteResponse, WritesUpgradeRequiredWithTheVersion) {
  EXPECT_EQ(response(426),
            "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n"
            "Connection: close\r\nSec-WebSocket-Version: 13\r\n\r\nupgrade required\n");
}

TEST(WriteResponse, WritesMethodNotAllowedWithAllow) {
  EXPECT_EQ(response(405),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n"
            "Connection: close\r\nAllow: GET\r\n\r\nmethod not allowed\n");
}

TEST(WriteResponse, EverySupportedStatusIsCompleteAndFits) {
  for (int status : {200, 400, 404, 405, 426, 431, 503}) {
    SCOPED_TRACE(status);
    const std::string r = response(status);
    ASSERT_FALSE(r.empty());
    EXPECT_LE(r.size(), kMaxResponseBytes);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 " + std::to_string(status) + " " +
                              std::string(reason_phrase(status)) + "\r\n"));
    EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nContent-Type: text/plain\r\n"), std::string::npos);
    const size_t body_start = r.find("\r\n\r\n") + 4;
    const std::string body = r.substr(body_start);
    EXPECT_TRUE(body.ends_with("\n"));
    EXPECT_NE(r.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
              std::string::npos);
  }
  EXPECT_TRUE(response(431).ends_with("\r\n\r\nrequest header fields too large\n"));
  EXPECT_TRUE(response(400).ends_with("\r\n\r\nbad request\n"));
  EXPECT_TRUE(response(404).ends_with("\r\n\r\nnot found\n"));
}

TEST(WriteResponse, ReturnsZeroWhenCapIsTooSmall) {
  for (int status : {200, 400, 404, 405, 426, 431, 503}) {
    char out[kMaxResponseBytes];
    const size_t length = write_response(status, out, sizeof out);
    for (size_t cap = 0; cap < length; ++cap) {
      EXPECT_EQ(write_response(status, out, cap), 0u) << status << " cap " << cap;
    }
    EXPECT_EQ(write_response(status, out, length), length);
  }
}

TEST(WriteResponse, ReturnsZeroForAnUnsupportedStatus) {
  char out[kMaxResponseBytes];
  EXPECT_EQ(write_response(101, out, sizeof out), 0u);
  EXPECT_EQ(write_response(500, out, sizeof out), 0u);
  EXPECT_EQ(write_response(0, out, sizeof out), 0u);
}

TEST(ReasonPhrase, NamesEachStatus) {
  EXPECT_EQ(reason_phrase(101), "Switching Protocols");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(426), "Upgrade Required");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(500), "");
}

}  // namespace
}  // namespace ringway::http
