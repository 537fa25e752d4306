#pragma once
// RFC 6455 framing from the client's side: the masked frames a client sends, and a reader for
// the unmasked frames a server sends. src/ws reads client frames (it insists on masks), so the
// client has its own reader; it shares the ws layer's vocabulary (opcodes, limits, close-code
// check, UTF-8 validator). The reader buffers only a partly received frame or message, checks
// a frame's declared length against the limit before any of its payload is kept, and checks
// text as it arrives.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/byte_buffer.h"
#include "ws/deflate.h"
#include "ws/deflate_negotiation.h"
#include "ws/frame.h"
#include "ws/utf8.h"

namespace ringway::client {

// 2 fixed bytes + 8 extended-length bytes + 4 mask-key bytes.
inline constexpr size_t kMaxClientHeader = 14;

// The size of a masked header for `length` payload bytes (minimal length encoding).
constexpr size_t client_header_size(uint64_t length) {
  return 2 + (length < 126 ? 0 : length <= 0xffff ? 2 : 8) + 4;
}
// Writes a masked header with FIN set (and RSV1 when compressed); returns its size (minimal
// length encoding).
size_t encode_client_header(uint8_t out[kMaxClientHeader], ws::Opcode op, uint64_t length,
                            uint32_t mask_key, bool compressed = false);
// XORs n bytes with the key's bytes (in memory order), starting at key byte 0.
void mask_bytes(uint8_t* p, size_t n, uint32_t mask_key);
// Appends one whole masked frame. False (buffer unchanged) when memory cannot be had, or for a
// control frame over ws::kMaxControlPayload.
bool append_frame(ByteBuffer& out, ws::Opcode op, std::span<const uint8_t> payload,
                  uint32_t mask_key, bool compressed = false);
bool append_text_frame(ByteBuffer& out, std::string_view text, uint32_t mask_key);
// A close frame: code 0 sends an empty payload; the reason is cut to fit (at a UTF-8 boundary).
bool append_close_frame(ByteBuffer& out, uint16_t code, std::string_view reason,
                        uint32_t mask_key);

// Called by the reader. Spans are valid during the call only. Return false to stop reading:
// the reader then ignores the rest of this and every later input.
class ServerFrameSink {
 public:
  virtual ~ServerFrameSink() = default;
  // A whole data message, fragments joined; text is valid UTF-8.
  virtual bool on_message(ws::Opcode op, std::span<const uint8_t> payload) = 0;
  virtual bool on_ping(std::span<const uint8_t> payload) = 0;
  virtual bool on_pong(std::span<const uint8_t> payload) = 0;
  // code 0: the close frame had no payload. Nothing is read after a close frame.
  virtual void on_close(uint16_t code, std::string_view reason) = 0;
};

struct ReadFailure {
  uint16_t close_code = 0;  // 0: fine; else 1002, 1007, 1009 or 1011 (out of memory)
  const char* what = "";
};

// With permessage-deflate negotiated (set_deflate), a message whose first frame has RSV1 is
// inflated as it arrives, bounded by the message limit as it grows (a bomb fails 1009 after at
// most the limit's bytes), its text checked as it is inflated; invalid deflate data fails 1007.
// The inflate state is borrowed from the thread's pool per message, or kept for the connection
// when the server keeps its compression context (no server_no_context_takeover).
class ServerFrameReader {
 public:
  explicit ServerFrameReader(size_t max_message = ws::kDefaultMaxMessageSize * 16)
      : max_message_(max_message) {}

  // Reads bytes split anywhere. Returns the first violation; after it, after a close frame, or
  // after the sink said stop, later calls read nothing and return {}.
  ReadFailure feed(std::span<const uint8_t> bytes, ServerFrameSink& sink);

  void set_max_message(size_t n) { max_message_ = n; }
  // What the 101 agreed to (not accepted: RSV1 is a protocol error). Before the first feed.
  void set_deflate(const ws::DeflateAgreement& a) {
    deflate_ = a.accepted;
    keep_inflater_ = a.accepted && !a.server_no_context_takeover;
  }
  // Forgets any partial state (and the deflate agreement) and gives its memory back, for reuse
  // on a new connection.
  void reset();
  bool done() const { return done_; }
  // Bytes held for a partial frame or message.
  size_t buffered() const { return in_.size() + message_.size(); }

 private:
  struct Header {
    bool fin;
    bool rsv1;
    uint8_t opcode;
    size_t size;      // header bytes
    uint64_t length;  // payload bytes
  };
  // 0: incomplete; >0: header parsed; <0: violation (failure_ set).
  int parse_header(const uint8_t* p, size_t n, Header& h);
  // Consumes whole frames from p; returns bytes used (the rest is an incomplete frame).
  size_t consume(const uint8_t* p, size_t n, ServerFrameSink& sink);
  bool frame(const Header& h, std::span<const uint8_t> payload, ServerFrameSink& sink);
  // A frame of a compressed message (op: the message's opcode).
  bool compressed_frame(const Header& h, uint8_t op, std::span<const uint8_t> payload,
                        ServerFrameSink& sink);
  bool fail(uint16_t code, const char* what);

  struct ReleaseInflater {
    void operator()(ws::detail::InflateState* s) const { ws::detail::release_inflater(s); }
  };

  ByteBuffer in_;       // an incomplete frame
  ByteBuffer message_;  // fragments of an unfinished message
  size_t max_message_;
  uint8_t message_op_ = 0;  // opcode of the unfinished fragmented message, 0 if none
  bool done_ = false;
  bool deflate_ = false;        // permessage-deflate negotiated
  bool keep_inflater_ = false;  // the server keeps its context: so does the inflater
  bool compressed_ = false;     // the current message came with RSV1
  std::unique_ptr<ws::detail::InflateState, ReleaseInflater> inflater_;
  ReadFailure failure_;
  ws::Utf8Validator utf8_;  // for the unfinished text message
};

}  // namespace ringway::client
