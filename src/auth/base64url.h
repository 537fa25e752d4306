#pragma once
// RFC 4648 §5 base64url without padding, as the protocol uses for keys, signatures and nonces.
// Decoding is strict so one value has exactly one accepted spelling.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringway::auth {

// Characters needed to encode n bytes without padding.
constexpr size_t base64url_encoded_size(size_t n) { return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1); }

std::string base64url_encode(std::span<const uint8_t> in);

// Decodes exactly out.size() bytes. Rejects: any character outside [A-Za-z0-9_-] (so '=', '+',
// '/', whitespace), a length other than base64url_encoded_size(out.size()), and a last character
// whose unused low bits are not zero (non-canonical). On failure out's contents are unspecified.
bool base64url_decode(std::string_view in, std::span<uint8_t> out);

}  // namespace ringway::auth
