#pragma once
// Client side of RFC 6455 framing: the masked frames a client sends, and an incremental parser
// for the frames a server sends. The server-side ws::MessageReader insists on masked frames,
// so the client needs its own reader: here a server frame must be unmasked, use the minimal
// length encoding, carry no RSV bits or unknown opcodes, and keep control frames whole and
// short. The parser holds no memory while it is between frames, and delivers a frame that
// arrived whole straight from the caller's bytes without copying.
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/byte_buffer.h"

namespace ringway::load {

enum : uint8_t {
  kOpContinuation = 0x0,
  kOpText = 0x1,
  kOpBinary = 0x2,
  kOpClose = 0x8,
  kOpPing = 0x9,
  kOpPong = 0xA,
};

inline constexpr size_t kMaxControlPayload = 125;
inline constexpr size_t kMaxClientFrameHeader = 14;  // 2 + 8 length + 4 mask
// Default cap on one server message (a declared length above it fails before any buffering).
inline constexpr uint64_t kDefaultMaxServerMessage = uint64_t{64} << 20;

// Size of a masked client frame header for `payload_len` bytes.
constexpr size_t client_header_size(uint64_t payload_len) {
  return 2 + (payload_len < 126 ? 0 : payload_len <= 0xffff ? 2 : 8) + 4;
}

// Writes a masked frame header (fin set) into `out` (kMaxClientFrameHeader bytes available).
// Returns the header length.
size_t write_client_header(uint8_t* out, uint8_t opcode, uint64_t payload_len, uint32_t mask);
// XORs `n` bytes at `p` with the 4-byte mask, starting at mask byte 0.
void apply_mask(uint8_t* p, size_t n, uint32_t mask);
// Appends one masked frame. Returns false when memory cannot be had.
bool append_client_frame(ByteBuffer& out, uint8_t opcode, std::span<const uint8_t> payload,
                         uint32_t mask);
// Close frame payload: 2-byte code (0: empty payload) + reason.
bool append_client_close(ByteBuffer& out, uint16_t code, std::span<const uint8_t> reason,
                         uint32_t mask);

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // A whole data message (fragments joined; opcode text or binary) or one control frame.
  // Return false to stop parsing (the rest of the input is left unread).
  virtual bool on_frame(uint8_t opcode, std::span<const uint8_t> payload) = 0;
};

enum class FrameError : uint8_t {
  kNone,
  kMasked,             // a server must not mask (RFC 6455 §5.1)
  kReservedBits,       // RSV1-3 without a negotiated extension
  kUnknownOpcode,
  kControlFragmented,  // control frame without FIN
  kControlTooLong,     // control frame over 125 bytes
  kNonMinimalLength,   // 16/64-bit length used for a length that fits a smaller form
  kLengthHighBit,      // 64-bit length with the most significant bit set
  kTooBig,             // message over the limit
  kUnexpectedContinuation,
  kInterleavedMessage,  // a new data frame while a fragmented message is open
};
const char* frame_error_name(FrameError e);

class ServerFrameParser {
 public:
  enum class Result : uint8_t { kOk, kStopped, kError };

  explicit ServerFrameParser(uint64_t max_message = kDefaultMaxServerMessage)
      : max_message_(max_message) {}

  // Consumes bytes, calling sink for each complete message and control frame. kStopped: the
  // sink returned false; kError: a protocol violation (error() says which); after either,
  // the parser must not be fed again.
  Result feed(std::span<const uint8_t> in, FrameSink& sink);

  FrameError error() const { return error_; }
  // Bytes held for a partly received frame or message (0 between frames).
  size_t buffered() const { return pending_.size() + message_.size(); }
  void set_max_message(uint64_t n) { max_message_ = n; }
  // Forgets any partial state and gives its memory back (for reuse on a new connection).
  void reset();

 private:
  struct Header {
    uint8_t opcode;
    bool fin;
    size_t header_len;
    uint64_t payload_len;
  };
  // 0: need more bytes; -1: error (error_ set); else the header length.
  int parse_header(const uint8_t* p, size_t n, Header& h);
  bool deliver(const Header& h, std::span<const uint8_t> payload, FrameSink& sink, bool& stop);

  ByteBuffer pending_;   // bytes of one incomplete frame, header included
  ByteBuffer message_;   // fragments of an open data message
  uint64_t max_message_;
  uint8_t message_op_ = 0;  // opcode of the open fragmented message, 0 if none
  FrameError error_ = FrameError::kNone;
};

}  // namespace ringway::load
