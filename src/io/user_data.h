#pragma once
// Every submission's user_data names its operation, the connection slot and the slot's
// generation — never a pointer — so a completion for a connection that has since been freed
// and reused is recognised and ignored instead of touching the wrong connection.
#include <cstdint>

namespace ringway::io {

enum class Op : uint8_t {
  kAccept = 1,
  kRecv,
  kSend,
  kShutdown,
  kCancel,
  kClose,
  kPeerName,
  kWake,
  kProbe,
  kMail,     // a MSG_RING wake-up from another worker (the mail itself is in the rings)
  kMsgRing,  // our MSG_RING to another worker failed (success posts no completion here)
};

inline constexpr uint32_t kGenerationBits = 24;
inline constexpr uint32_t kGenerationMask = (1u << kGenerationBits) - 1;

struct UserData {
  Op op;
  uint32_t slot;
  uint32_t gen;  // kGenerationBits wide
};

// Layout: [63..56] op, [55..32] generation, [31..0] slot.
inline constexpr uint64_t pack(Op op, uint32_t slot, uint32_t gen) {
  return (uint64_t(op) << 56) | (uint64_t(gen & kGenerationMask) << 32) | slot;
}

inline constexpr UserData unpack(uint64_t v) {
  return {Op(v >> 56), uint32_t(v), uint32_t(v >> 32) & kGenerationMask};
}

}  // namespace ringway::io
