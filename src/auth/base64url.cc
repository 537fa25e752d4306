#include "auth/base64url.h"

#include <array>

namespace ringway::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> make_decode_table() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<uint8_t>(kAlphabet[i])] = i;
  return table;
}
constexpr std::array<uint8_t, 256> kDecode = make_decode_table();

}  // namespace

std::string base64url_encode(std::span<const uint8_t> in) {
  std::string out;
  out.resize(base64url_encoded_size(in.size()));
  char* p = out.data();
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = kAlphabet[(v >> 6) & 63];
    *p++ = kAlphabet[v & 63];
  }
  const size_t rest = in.size() - i;
  if (rest == 1) {
    const uint32_t v = uint32_t{in[i]} << 16;
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view in, std::span<uint8_t> out) {
  if (in.size() != base64url_encoded_size(out.size())) return false;
  const auto* s = reinterpret_cast<const uint8_t*>(in.data());
  uint8_t* o = out.data();
  size_t i = 0;
  for (; i + 4 <= in.size(); i += 4) {
    const uint8_t a = kDecode[s[i]], b = kDecode[s[i + 1]], c = kDecode[s[i + 2]],
                  d = kDecode[s[i + 3]];
    if ((a | b | c | d) & 0xc0) return false;  // kInvalid has the top bits set
    const uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
    *o++ = static_cast<uint8_t>(v >> 16);
    *o++ = static_cast<uint8_t>(v >> 8);
    *o++ = static_cast<uint8_t>(v);
  }
  const size_t rest = in.size() - i;  // 0, 2 or 3: the length check excludes 1
  if (rest == 2) {
    const uint8_t a = kDecode[s[i]], b = kDecode[s[i + 1]];
    if ((a | b) & 0xc0) return false;
    if (b & 0x0f) return false;  // bits that no output byte uses must be zero
    *o++ = static_cast<uint8_t>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    const uint8_t a = kDecode[s[i]], b = kDecode[s[i + 1]], c = kDecode[s[i + 2]];
    if ((a | b | c) & 0xc0) return false;
    if (c & 0x03) return false;
    *o++ = static_cast<uint8_t>((a << 2) | (b >> 4));
    *o++ = static_cast<uint8_t>((b << 4) | (c >> 2));
  }
  return true;
}

}  // namespace ringway::auth
