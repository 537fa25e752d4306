#pragma once
// The WebSocket side of the opening handshake (RFC 6455 §4.2): is this request a valid upgrade,
// and what Sec-WebSocket-Accept answers its key.
#include <cstddef>
#include <string_view>

#include "http/upgrade_parser.h"

namespace ringway::http {

enum class Route { kWebSocket, kHealth, kNotFound };  // routing is decided by the caller

struct UpgradeCheck {
  int status;            // 0 = ok, else 400/405/426
  std::string_view key;  // Sec-WebSocket-Key when ok; points into the parser's buffer
};

// Validates a request that targets a WebSocket route per RFC 6455 §4.2.1, in this order:
// GET (else 405); HTTP/1.1+, Upgrade lists token "websocket" and Connection lists token
// "upgrade" (case-insensitive, comma lists, any number of such headers) else 400;
// Sec-WebSocket-Version exactly 13 (absent or another value: 426; sent twice: 400);
// Sec-WebSocket-Key sent once and base64 of exactly 16 bytes else 400.
UpgradeCheck check_upgrade(const Request& r);

// Length of a Sec-WebSocket-Key: base64 of 16 bytes, "==" padded.
inline constexpr size_t kWebSocketKeyLength = 24;

inline constexpr size_t kAcceptKeyLength = 28;
// SHA-1 of key + the RFC 6455 GUID, base64 (BoringSSL). Writes exactly 28 chars, no NUL.
void compute_accept_key(std::string_view key, char out[kAcceptKeyLength]);

}  // namespace ringway::http
