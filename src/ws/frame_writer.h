#pragma once
// Encodes server-to-client frames (unmasked, RFC 6455 §5.1). The header is a few bytes of
// arithmetic, so it is written here directly; the payload is the caller's (it is never copied
// here except by the ByteBuffer forms).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/byte_buffer.h"
#include "ws/frame.h"

namespace ringway::ws {

// An unmasked header: 2 bytes, 4 with a 16-bit length, 10 with a 64-bit length.
inline constexpr size_t kMaxServerHeader = 10;
// A whole control frame: the header and at most kMaxControlPayload bytes.
inline constexpr size_t kMaxControlFrameBytes = 2 + kMaxControlPayload;

// Writes the header of a frame with `length` payload bytes; returns its size (minimal encoding).
// rsv1: the first frame of a compressed message (permessage-deflate).
size_t encode_header(uint8_t out[kMaxServerHeader], Opcode op, uint64_t length, bool fin = true,
                     bool rsv1 = false);

// Writes a whole control frame into out (room for kMaxControlFrameBytes); returns its size, or
// 0 when op is not a control opcode or the payload is over kMaxControlPayload.
size_t encode_control(uint8_t* out, Opcode op, std::span<const uint8_t> payload);

// Writes a whole close frame into out (room for kMaxControlFrameBytes). code 0 sends an empty
// payload (and no reason); otherwise the reason is cut to fit, at a UTF-8 boundary so the peer
// does not fail it with 1007.
size_t encode_close(uint8_t* out, uint16_t code, std::string_view reason);

// Appends one whole frame. Returns false, leaving out unchanged, when memory cannot be had or
// the frame is not allowed (a control frame over kMaxControlPayload bytes or without fin).
bool write_frame(ByteBuffer& out, Opcode op, std::span<const uint8_t> payload, bool fin = true);

// Appends a close frame (see encode_close).
bool write_close(ByteBuffer& out, uint16_t code, std::string_view reason);

}  // namespace ringway::ws
