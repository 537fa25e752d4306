#pragma once
// Encodes server-to-client frames (unmasked, RFC 6455 §5.1) by appending them to a buffer.
#include <cstdint>
#include <span>
#include <string_view>

#include "common/byte_buffer.h"
#include "ws/frame.h"

namespace ringway::ws {

// Appends one whole frame. Returns false, leaving out unchanged, when memory cannot be had or
// the frame is not allowed (a control frame over kMaxControlPayload bytes or without fin).
bool write_frame(ByteBuffer& out, Opcode op, std::span<const uint8_t> payload, bool fin = true);

// Appends a close frame. code 0 sends an empty payload (and no reason); otherwise the reason is
// cut to fit kMaxControlPayload, at a UTF-8 boundary so the peer does not fail it with 1007.
bool write_close(ByteBuffer& out, uint16_t code, std::string_view reason);

}  // namespace ringway::ws
