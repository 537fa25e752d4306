#pragma once
// The client half of the WebSocket opening handshake (RFC 6455 §4.1): the upgrade request and
// the check of the server's 101 (status, Upgrade, Connection, Sec-WebSocket-Accept).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/byte_buffer.h"
#include "ws/deflate_negotiation.h"

namespace ringway::load {

// A response head larger than this is refused (ringway's 101 is under 200 bytes).
inline constexpr size_t kMaxResponseHead = 8192;
inline constexpr size_t kWebSocketKeyChars = 24;

// Sec-WebSocket-Key for 16 bytes derived from `seed` (base64, 24 chars).
std::string websocket_key(uint64_t seed);

// Appends "GET path HTTP/1.1" with Host, Upgrade, Connection, Sec-WebSocket-Key and -Version.
// deflate: offer permessage-deflate (client::kDeflateOffer).
bool append_upgrade_request(ByteBuffer& out, std::string_view host, std::string_view path,
                            std::string_view key, bool deflate = false);

// Collects the response head up to and including the blank line. Owns memory only until the
// head is complete (then release() it).
class ResponseHeadReader {
 public:
  enum class State : uint8_t { kNeedMore, kComplete, kError };
  // Returns how many bytes of `in` belong to the head; the rest is the WebSocket stream.
  size_t feed(std::span<const uint8_t> in);
  State state() const { return state_; }
  std::string_view head() const {
    return {reinterpret_cast<const char*>(buf_.data()), buf_.size()};
  }
  void release() {
    buf_.release();
    state_ = State::kNeedMore;
  }

 private:
  ByteBuffer buf_;
  State state_ = State::kNeedMore;
};

// Checks a complete response head against the request's key. Returns true for a valid 101;
// otherwise sets err (and status to the response's status code, or 0 if it has none).
// offered_deflate: the request offered permessage-deflate; *agreed gets the answer.
bool check_upgrade_response(std::string_view head, std::string_view key, int& status,
                            std::string& err, bool offered_deflate = false,
                            ws::DeflateAgreement* agreed = nullptr);

}  // namespace ringway::load
