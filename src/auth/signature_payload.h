#pragma once
// The bytes a device signs to prove it holds its key (PROTOCOL.md, "Opening handshake" step 3).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringway::auth {

inline constexpr std::string_view kSignaturePrefix = "ringway-connect-v1";
inline constexpr uint64_t kMaxClockSkewMs = 120000;

// Six fields joined by '\n', no trailing newline: prefix, device id, role, scopes joined by ','
// in the order sent, signed_at_ms in decimal, nonce. Does not validate: the caller has already
// checked that no field contains '\n' and no scope contains ',' (valid_scope guarantees both).
std::string signature_payload(std::string_view device_id, std::string_view role,
                              std::span<const std::string> scopes, uint64_t signed_at_ms,
                              std::string_view nonce);

// |now - signed_at| <= kMaxClockSkewMs, without unsigned wrap-around.
constexpr bool signed_at_fresh(uint64_t signed_at_ms, uint64_t now_ms) {
  const uint64_t diff = now_ms >= signed_at_ms ? now_ms - signed_at_ms : signed_at_ms - now_ms;
  return diff <= kMaxClockSkewMs;
}

}  // namespace ringway::auth
