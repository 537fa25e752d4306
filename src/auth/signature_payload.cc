#include "auth/signature_payload.h"

#include <charconv>

namespace ringway::auth {

std::string signature_payload(std::string_view device_id, std::string_view role,
                              std::span<const std::string> scopes, uint64_t signed_at_ms,
                              std::string_view nonce) {
  char ts[24];
  const auto [ts_end, ec] = std::to_chars(ts, ts + sizeof ts, signed_at_ms);
  (void)ec;  // 24 chars always fit a uint64_t
  size_t size = kSignaturePrefix.size() + device_id.size() + role.size() +
                static_cast<size_t>(ts_end - ts) + nonce.size() + 5;
  for (const auto& s : scopes) size += s.size() + 1;

  std::string out;
  out.reserve(size);
  out.append(kSignaturePrefix).append(1, '\n');
  out.append(device_id).append(1, '\n');
  out.append(role).append(1, '\n');
  for (size_t i = 0; i < scopes.size(); ++i) {
    if (i != 0) out += ',';
    out += scopes[i];
  }
  out += '\n';
  out.append(ts, ts_end).append(1, '\n');
  out.append(nonce);
  return out;
}

}  // namespace ringway::auth
