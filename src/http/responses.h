#pragma once
// The few complete HTTP responses the gateway sends itself: the 101 that upgrades, and small
// text/plain answers that end the connection. Written into caller memory; nothing allocates.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringway::http {

// Room that is always enough for any response written here.
inline constexpr size_t kMaxResponseBytes = 512;

// Writes "HTTP/1.1 101 Switching Protocols" with Upgrade, Connection and the
// Sec-WebSocket-Accept computed from the client's key, and Sec-WebSocket-Extensions when
// `extensions` (the negotiated extension, ws/deflate_negotiation.h) is not empty. Returns the
// length, 0 if cap is too small.
size_t write_switching_protocols(std::string_view key, char* out, size_t cap,
                                 std::string_view extensions = {});

// Writes a complete small response that ends the connection: status line, Content-Type:
// text/plain, Content-Length, Connection: close, for 426 also Sec-WebSocket-Version: 13, for
// 405 also Allow: GET. Body is a short reason text plus "\n" ("ok\n" for 200, "draining\n" for
// 503, "request header fields too large\n" for 431). Supports 200, 400, 404, 405, 426, 431,
// 503. Returns the length, 0 if cap is too small or the status is not supported.
size_t write_response(int status, char* out, size_t cap);

// A response with a body, appended to out: status line, Content-Type, Content-Length,
// Connection: keep-alive or close, Retry-After when retry_after_ms > 0.
void append_response(std::string& out, int status, std::string_view content_type,
                     std::string_view body, bool keep_alive, uint64_t retry_after_ms = 0);

// A JSON response for the HTTP API, appended to out: status line, Content-Type:
// application/json, Content-Length, Connection: keep-alive or close, and where it applies
// Retry-After (seconds, rounded up; when retry_after_ms > 0), WWW-Authenticate: Bearer (401) and
// Allow: POST (405). Supports 202, 400, 401, 403, 404, 405, 411, 413, 503.
void append_json_response(std::string& out, int status, std::string_view body, bool keep_alive,
                          uint64_t retry_after_ms = 0);

// "Bad Request" for 400 and so on; "" for a status not listed above (101 is listed).
std::string_view reason_phrase(int status);

}  // namespace ringway::http
