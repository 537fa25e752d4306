#pragma once
// Frame-level vocabulary of RFC 6455 shared by the reader and the writer.
#include <cstddef>
#include <cstdint>

namespace ringway::ws {

enum class Opcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10,
};

// RFC 6455 §5.5: control frames carry at most 125 payload bytes and are never fragmented.
inline constexpr size_t kMaxControlPayload = 125;
// Default cap on one reassembled data message; a session may choose its own.
inline constexpr size_t kDefaultMaxMessageSize = size_t{1} << 20;
// 2 fixed bytes + 8 extended-length bytes + 4 mask-key bytes.
inline constexpr size_t kMaxFrameHeader = 14;

constexpr bool is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }

// Opcodes 3-7 and 11-15 are reserved for extensions this gateway never negotiates.
constexpr bool is_known_opcode(uint8_t opcode) {
  return opcode <= 2 || (opcode >= 8 && opcode <= 10);
}

// Size of a header that uses the minimal length encoding (which wslay enforces on receive).
constexpr size_t frame_header_size(uint64_t payload_length, bool masked) {
  size_t ext = payload_length < 126 ? 0 : payload_length <= 0xffff ? 2 : 8;
  return 2 + ext + (masked ? 4 : 0);
}

}  // namespace ringway::ws
