#pragma once
// Close status codes (RFC 6455 §7.4) that the gateway sends, and the check on codes it receives.
#include <cstdint>

namespace ringway::ws {

namespace close_code {
inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;
inline constexpr uint16_t kProtocolError = 1002;
inline constexpr uint16_t kInvalidPayload = 1007;
inline constexpr uint16_t kPolicy = 1008;
inline constexpr uint16_t kMessageTooBig = 1009;
inline constexpr uint16_t kInternal = 1011;
inline constexpr uint16_t kTryAgainLater = 1013;
}  // namespace close_code

// True for codes a peer may put on the wire: 1000-1003, 1007-1014 and the registered/private
// range 3000-4999. 1004-1006 and 1015 are reserved or local-only and never valid in a frame.
bool is_valid_received_close_code(uint16_t code);

}  // namespace ringway::ws
