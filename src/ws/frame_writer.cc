#include "ws/frame_writer.h"

#include <cstring>

namespace ringway::ws {
namespace {

// Length of the longest prefix of s, at most max bytes, that does not end inside a code point.
size_t utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  // Back off continuation bytes (10xxxxxx) so the cut lands before a lead byte.
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xc0) == 0x80) --n;
  return n;
}

}  // namespace

size_t encode_header(uint8_t out[kMaxServerHeader], Opcode op, uint64_t length, bool fin,
                     bool rsv1) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<uint8_t>(op));
  if (length < 126) {
    out[1] = static_cast<uint8_t>(length);
    return 2;
  }
  if (length <= 0xffff) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(length >> 8);
    out[3] = static_cast<uint8_t>(length);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(length >> (56 - 8 * i));
  return 10;
}

size_t encode_control(uint8_t* out, Opcode op, std::span<const uint8_t> payload) {
  if (!is_control(static_cast<uint8_t>(op)) || !is_known_opcode(static_cast<uint8_t>(op)) ||
      payload.size() > kMaxControlPayload)
    return 0;
  size_t h = encode_header(out, op, payload.size());
  if (!payload.empty()) std::memcpy(out + h, payload.data(), payload.size());
  return h + payload.size();
}

size_t encode_close(uint8_t* out, uint16_t code, std::string_view reason) {
  if (code == 0) return encode_control(out, Opcode::kClose, {});
  uint8_t payload[kMaxControlPayload];
  payload[0] = static_cast<uint8_t>(code >> 8);
  payload[1] = static_cast<uint8_t>(code);
  size_t n = utf8_prefix(reason, kMaxControlPayload - 2);
  if (n != 0) std::memcpy(payload + 2, reason.data(), n);  // data() may be null when empty
  return encode_control(out, Opcode::kClose, {payload, 2 + n});
}

bool write_frame(ByteBuffer& out, Opcode op, std::span<const uint8_t> payload, bool fin) {
  auto opcode = static_cast<uint8_t>(op);
  if (!is_known_opcode(opcode)) return false;
  if (is_control(opcode) && (!fin || payload.size() > kMaxControlPayload)) return false;
  if (payload.size() > SIZE_MAX - kMaxServerHeader - out.size()) return false;
  uint8_t head[kMaxServerHeader];
  size_t h = encode_header(head, op, payload.size(), fin);
  // Reserving first means a failed append never leaves half a frame in out.
  if (!out.reserve(out.size() + h + payload.size())) return false;
  return out.append(head, h) && out.append(payload);
}

bool write_close(ByteBuffer& out, uint16_t code, std::string_view reason) {
  uint8_t frame[kMaxControlFrameBytes];
  size_t n = encode_close(frame, code, reason);
  return n != 0 && out.append(frame, n);
}

}  // namespace ringway::ws
