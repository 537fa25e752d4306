#pragma once
// The client half of the WebSocket opening handshake (RFC 6455 §4.1): the GET request, and the
// check of what the server answers (101, Upgrade, Connection, Sec-WebSocket-Accept). No I/O.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "client/url.h"
#include "ws/deflate_negotiation.h"

namespace ringway::client {

// A response head longer than this is refused (a ringway 101 is under 200 bytes).
inline constexpr size_t kMaxResponseHead = 8192;

// Sec-WebSocket-Key: base64 (padded) of 16 bytes.
std::string websocket_key(const std::array<uint8_t, 16>& nonce);

// What a client offers when it wants permessage-deflate: any server parameters, and leave to the
// server the client's window (client_max_window_bits with no value allows it to be cut). The
// client compresses without context takeover whatever the answer (RFC 7692 §7.1.1.1 lets it).
inline constexpr std::string_view kDeflateOffer = "permessage-deflate; client_max_window_bits";

// extensions: a Sec-WebSocket-Extensions value to offer (none when empty).
std::string upgrade_request(const Url& url, std::string_view key, std::string_view extensions = {});

// Collects bytes up to and including the blank line that ends the response head.
class ResponseHead {
 public:
  enum class State : uint8_t { kNeedMore, kComplete, kTooLong };
  // Takes bytes of `in` that belong to the head and returns how many it took: the rest is the
  // first of the WebSocket stream.
  size_t feed(std::span<const uint8_t> in);
  State state() const { return state_; }
  std::string_view text() const { return head_; }

 private:
  std::string head_;
  State state_ = State::kNeedMore;
};

struct UpgradeAnswer {
  bool ok = false;
  int status = 0;       // the HTTP status, 0 when the status line is malformed
  std::string error;    // when !ok: what is wrong, for a log line
  // What the server agreed to (accepted only when deflate was offered and answered).
  ws::DeflateAgreement deflate;
};
// offered_deflate: the request offered permessage-deflate. An extension the client did not
// offer, or an answer outside RFC 7692's grammar, fails the handshake (RFC 6455 §4.1).
UpgradeAnswer check_upgrade_response(std::string_view head, std::string_view key,
                                     bool offered_deflate = false);

// Reads a server's permessage-deflate answer ("permessage-deflate; server_no_context_takeover;
// client_max_window_bits=12"). False for another extension, an unknown or repeated parameter or
// a window outside 8..15. Parameters left out mean context takeover and 15-bit windows.
bool parse_deflate_answer(std::string_view value, ws::DeflateAgreement& out);

}  // namespace ringway::client
