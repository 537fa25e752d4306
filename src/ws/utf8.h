#pragma once
// Incremental UTF-8 validation for text messages and close reasons.
//
// Hand-written because a WebSocket text message arrives in fragments and chunks: the check must
// carry a partial code point across calls and must fail at the first bad byte, so a bad message
// is refused before the rest of it is received or buffered.
#include <cstddef>
#include <cstdint>
#include <span>

namespace ringway::ws {

class Utf8Validator {
 public:
  // Returns false once the bytes seen so far cannot be a prefix of valid UTF-8; that is sticky
  // until reset(). Rejection happens at the first byte that cannot start or continue a sequence.
  bool feed(const uint8_t* p, size_t n);
  // True when no code point is half-received (and nothing was rejected).
  bool complete() const { return state_ == 0; }
  void reset() { state_ = 0; }

 private:
  // DFA state, stored pre-multiplied by the number of byte classes (see utf8.cc).
  uint8_t state_ = 0;
};

bool is_valid_utf8(std::span<const uint8_t> bytes);

}  // namespace ringway::ws
