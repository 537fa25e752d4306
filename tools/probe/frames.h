#pragma once
// The probe's own WebSocket bytes: client frames built field by field, so that they can be
// deliberately bad (reserved bits, unmasked, a declared length with no payload behind it), and
// the opening handshake's text. What the server sends is read with the client library's
// reader (client/frames.h), and its 101 checked by the library (client/handshake.h).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ws/deflate_negotiation.h"

namespace ringway::probe {

using Bytes = std::vector<uint8_t>;

namespace opcode {
inline constexpr uint8_t kContinuation = 0x0;
inline constexpr uint8_t kText = 0x1;
inline constexpr uint8_t kBinary = 0x2;
inline constexpr uint8_t kClose = 0x8;
inline constexpr uint8_t kPing = 0x9;
inline constexpr uint8_t kPong = 0xA;
}  // namespace opcode

// One frame to build. declared_length overrides the length written in the header (the payload
// that follows is still `payload`): used to announce a huge frame and send only its start.
struct FrameSpec {
  uint8_t opcode = opcode::kBinary;
  bool fin = true;
  uint8_t rsv = 0;  // 3 bits: 4 = RSV1, 2 = RSV2, 1 = RSV3
  bool masked = true;
  std::array<uint8_t, 4> mask_key{0x37, 0xfa, 0x21, 0x3d};
  std::optional<uint64_t> declared_length;
};

// Header (2-14 bytes) for a frame, minimal length encoding for `length`.
Bytes frame_header(const FrameSpec& spec, uint64_t length);
// Header plus the payload (masked with spec.mask_key when spec.masked).
Bytes build_frame(const FrameSpec& spec, std::span<const uint8_t> payload);
Bytes build_frame(const FrameSpec& spec, std::string_view payload);
// XORs data in place with key, starting at key offset `offset` (mod 4).
void apply_mask(std::span<uint8_t> data, const std::array<uint8_t, 4>& key, size_t offset = 0);
// Close frame payload: empty when code is nullopt, else the code (big endian) and the reason.
Bytes close_payload(std::optional<uint16_t> code, std::string_view reason = {});

// Standard base64 with padding (RFC 4648 §4).
std::string base64_encode(std::span<const uint8_t> data);
// A fresh Sec-WebSocket-Key: base64 of 16 random bytes.
std::string new_websocket_key();
// The Sec-WebSocket-Accept a server must answer `key` with.
std::string expected_accept(std::string_view key);

// GET request for the opening handshake. extra_headers are whole "Name: value" lines without
// CRLF.
std::string upgrade_request(std::string_view host_header, std::string_view path,
                            std::string_view key,
                            const std::vector<std::string>& extra_headers);

// Checks a response head for a valid 101 answer to `key` (client::check_upgrade_response).
// Returns an empty string when valid, else what is wrong. With offered_deflate the request
// offered permessage-deflate and *agreed gets the server's answer (accepted or not).
std::string check_upgrade_response(std::string_view head, std::string_view key,
                                   bool offered_deflate = false,
                                   ws::DeflateAgreement* agreed = nullptr);

// Printable rendering of bytes from the network (reasons, responses) for one-line reports:
// printable ASCII kept, the rest as \xNN, cut to max_len with "...".
std::string printable(std::string_view bytes, size_t max_len = 80);

}  // namespace ringway::probe
