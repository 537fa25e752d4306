#include "http/handshake.h"

#include <openssl/base64.h>
#include <openssl/sha.h>

#include <cstdint>
#include <cstring>

namespace ringway::http {
namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string_view trim_optional_whitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated list holds `token` as one of its elements.
bool list_has_token(std::string_view list, std::string_view token) {
  while (true) {
    const size_t comma = list.find(',');
    if (equal_ignoring_ascii_case(trim_optional_whitespace(list.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// A list-valued header may be split over several lines; the token may be in any of them.
bool headers_list_token(const Request& r, std::string_view name, std::string_view token) {
  for (const Header& h : r.headers) {
    if (equal_ignoring_ascii_case(h.name, name) && list_has_token(h.value, token)) return true;
  }
  return false;
}

size_t count_headers(const Request& r, std::string_view name) {
  size_t count = 0;
  for (const Header& h : r.headers) count += equal_ignoring_ascii_case(h.name, name) ? 1 : 0;
  return count;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// 16 bytes encode as 22 base64 characters and "==". The 4 spare bits of the last character are
// not checked: the key still decodes to 16 bytes, which is all RFC 6455 asks.
bool is_websocket_key(std::string_view key) {
  if (key.size() != kWebSocketKeyLength || !key.ends_with("==")) return false;
  for (size_t i = 0; i < kWebSocketKeyLength - 2; ++i) {
    if (!is_base64_char(key[i])) return false;
  }
  return true;
}

}  // namespace

UpgradeCheck check_upgrade(const Request& r) {
  if (r.method != "GET") return {405, {}};
  if (r.minor_version < 1) return {400, {}};
  if (!headers_list_token(r, "Upgrade", "websocket")) return {400, {}};
  if (!headers_list_token(r, "Connection", "upgrade")) return {400, {}};

  const size_t version_count = count_headers(r, "Sec-WebSocket-Version");
  if (version_count > 1) return {400, {}};
  if (r.header("Sec-WebSocket-Version") != "13") return {426, {}};

  if (count_headers(r, "Sec-WebSocket-Key") != 1) return {400, {}};
  const std::string_view key = r.header("Sec-WebSocket-Key");
  if (!is_websocket_key(key)) return {400, {}};
  return {0, key};
}

void compute_accept_key(std::string_view key, char out[kAcceptKeyLength]) {
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA_CTX sha;
  SHA1_Init(&sha);
  SHA1_Update(&sha, key.data(), key.size());
  SHA1_Update(&sha, kWebSocketGuid.data(), kWebSocketGuid.size());
  SHA1_Final(digest, &sha);

  static_assert((SHA_DIGEST_LENGTH + 2) / 3 * 4 == kAcceptKeyLength);
  uint8_t encoded[kAcceptKeyLength + 1];  // EVP_EncodeBlock also writes a NUL
  EVP_EncodeBlock(encoded, digest, sizeof digest);
  std::memcpy(out, encoded, kAcceptKeyLength);
}

}  // namespace ringway::http
