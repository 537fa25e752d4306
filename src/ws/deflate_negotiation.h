#pragma once
// permessage-deflate negotiation (RFC 7692 §5, §7.1): which of the client's offers in
// Sec-WebSocket-Extensions the server accepts, and the parameters it answers with.
//
// Without context takeover the server inflates with a 32 KiB window borrowed per message, which
// reads any client window, so it does not answer client_max_window_bits. When the client's
// window is kept for the connection (takeover mode) and the client offered the parameter (so it
// may be answered), the server asks for kKeptClientWindowBits to keep that window small. What it must honour are the client's demands on the
// server: server_no_context_takeover (answered, and kept) and server_max_window_bits=N (answered
// with N and compressed with a window of 2^N; N = 8 is declined because zlib's raw deflate
// cannot produce a 256-byte window). Offers with unknown or repeated parameters, or values
// outside the grammar, are declined; the first acceptable offer wins.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ringway::ws {

enum class DeflateMode : uint8_t {
  kOff,       // never negotiated
  kOn,        // no context takeover in either direction: no state between messages
  kTakeover,  // context kept per connection (within a memory budget)
};

// "off", "on", "takeover" (else false).
bool parse_deflate_mode(std::string_view text, DeflateMode& out);
const char* deflate_mode_name(DeflateMode m);

inline constexpr uint8_t kMaxWindowBits = 15;
// The smallest server_max_window_bits accepted (zlib's raw deflate has no 8-bit window).
inline constexpr uint8_t kMinServerWindowBits = 9;
// The client window asked for when it is kept per connection (4 KiB instead of 32 KiB).
inline constexpr uint8_t kKeptClientWindowBits = 12;
// Longest Sec-WebSocket-Extensions value format_deflate_response writes.
inline constexpr size_t kMaxDeflateResponse = 140;

struct DeflateAgreement {
  bool accepted = false;
  // The server keeps no compression context between messages (answered when true).
  bool server_no_context_takeover = true;
  // The client keeps none either (answered when true), so inflating needs no state between
  // messages.
  bool client_no_context_takeover = true;
  // The window the server compresses with; answered as server_max_window_bits when offered.
  uint8_t server_window_bits = kMaxWindowBits;
  bool answer_server_window_bits = false;
  // The client's window (answered as client_max_window_bits when answer_client_window_bits).
  uint8_t client_window_bits = kMaxWindowBits;
  bool answer_client_window_bits = false;
};

// header_values: every Sec-WebSocket-Extensions field value of the request, in order.
// takeover_allowed: in kTakeover mode, whether this connection may keep context (false when the
// memory budget is spent: the agreement then falls back to no context takeover).
DeflateAgreement negotiate_deflate(std::span<const std::string_view> header_values,
                                   DeflateMode mode, bool takeover_allowed);

// The response's extension value for an accepted agreement, e.g. "permessage-deflate;
// server_no_context_takeover; client_no_context_takeover". Returns its length (at most
// kMaxDeflateResponse), 0 when not accepted or cap is too small.
size_t format_deflate_response(const DeflateAgreement& a, char* out, size_t cap);

}  // namespace ringway::ws
