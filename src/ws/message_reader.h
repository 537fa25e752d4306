#pragma once
// Decodes client-to-server WebSocket frames into messages and control frames (RFC 6455 §5).
//
// wslay's frame API does the byte-level header parsing and unmasking; this class enforces what
// wslay leaves to the caller (RSV bits, opcodes, masking, fragmentation rules, close payloads,
// UTF-8, size limit) and reassembles fragmented messages.
#include <wslay/wslay.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/byte_buffer.h"
#include "ws/close_code.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/utf8.h"

namespace ringway::ws {

// Implemented by the session that owns the reader. Payload spans are valid only during the call.
// A callback must not feed or destroy the reader that is calling it.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // op is kText (payload already UTF-8 checked) or kBinary.
  virtual void on_message(Opcode op, std::span<const uint8_t> payload) = 0;
  virtual void on_ping(std::span<const uint8_t> payload) = 0;
  virtual void on_pong(std::span<const uint8_t> payload) = 0;
  // code 0 when the close frame had no payload (the reply then uses 1000); reason already UTF-8
  // checked. No further sink call follows.
  virtual void on_close(uint16_t code, std::span<const uint8_t> reason) = 0;
  // A compressed message was inflated (called just before its on_message): wire and message
  // sizes, for metrics.
  virtual void on_inflated(size_t compressed, size_t inflated) {}
};

// Reasons of the failures of compressed messages (permessage-deflate), for counting them: the
// gateway compares the pointer, so each is one array (one address in every translation unit; a
// pointer constant to a literal may point at a different copy of the text in each, as an ASan
// build showed).
inline constexpr char kReasonInflatedTooBig[] = "inflated message too big";
inline constexpr char kReasonInvalidDeflate[] = "invalid compressed data";

struct ReadResult {
  uint16_t close_code;  // 0 = fine
  const char* reason;   // static text, "" if fine
};

class MessageReader {
 public:
  explicit MessageReader(size_t max_message_size = kDefaultMaxMessageSize);
  ~MessageReader();
  MessageReader(const MessageReader&) = delete;
  MessageReader& operator=(const MessageReader&) = delete;
  MessageReader(MessageReader&& other) noexcept;
  MessageReader& operator=(MessageReader&& other) noexcept;

  // Decodes bytes, calling sink for each complete message or control frame in order. Stops at
  // the first violation and returns its close code (1002, 1007, 1009; 1011 when out of memory).
  // After on_close or a violation every later call returns {0, ""} and calls nothing.
  ReadResult feed(std::span<const uint8_t> bytes, MessageSink& sink);

  // True when the reader owns no heap memory: no wslay context, no reassembly buffer.
  bool idle() const {
    return ctx_ == nullptr && assembly_.capacity() == 0 && control_ == nullptr &&
           inflater_ == nullptr;
  }
  size_t max_message_size() const { return max_message_size_; }
  // True while a frame or a fragmented message has started and not finished (the gateway's
  // message deadline runs then).
  bool in_progress() const {
    return !done_ && (frame_remaining_ != 0 || pending_ != 0 || message_opcode_ != 0);
  }
  // Changes the limit for messages that start from now on (e.g. a smaller cap before auth).
  void set_max_message_size(size_t n) { max_message_size_ = n; }
  // permessage-deflate was negotiated: a message whose first frame has RSV1 is compressed
  // (RFC 7692 §6). Without it, RSV1 is a protocol error like the other reserved bits.
  void set_deflate(bool on) { deflate_ = on; }
  // Context takeover: the reader holds an inflate state for good (so it is no longer idle()),
  // which keeps the client's window between messages when client_takeover is true, and holds
  // server_stream, the connection's kept deflate stream (owned from now on; may be null).
  // False when out of memory (server_stream is then freed).
  // client_window_bits: the window the client was asked to keep to (8..15).
  bool set_takeover(bool client_takeover, z_stream* server_stream,
                    uint8_t client_window_bits = 15);
  // The kept deflate stream given to set_takeover; null without one (or after a failure).
  z_stream* server_stream() const { return inflater_ ? inflater_->deflate : nullptr; }
  bool deflate() const { return deflate_; }

 private:
  struct Header {
    bool fin;
    uint8_t rsv;
    uint8_t opcode;
    bool masked;
    uint64_t payload_length;
  };

  ReadResult check_header(const Header& h) const;
  ReadResult on_chunk(const wslay_frame_iocb& iocb, MessageSink& sink);
  ReadResult on_control_payload(const uint8_t* data, size_t n, bool first, MessageSink& sink);
  ReadResult on_data_payload(const uint8_t* data, size_t n, bool first, MessageSink& sink);
  ReadResult deliver_control(std::span<const uint8_t> payload, MessageSink& sink);
  ReadResult deliver_message(std::span<const uint8_t> payload, MessageSink& sink);
  ReadResult on_compressed_payload(const uint8_t* data, size_t n, MessageSink& sink);
  ReadResult check_pending_header(std::span<const uint8_t> fed);
  ReadResult fail(ReadResult r);
  void release_all();

  wslay_frame_context_ptr ctx_ = nullptr;  // only while a frame is partly received
  ByteBuffer assembly_;                     // only while a message spans chunks
  uint8_t* control_ = nullptr;              // kMaxControlPayload bytes, only while a control
                                            // frame spans chunks
  detail::InflateState* inflater_ = nullptr;  // only while a compressed message is received
  size_t max_message_size_;
  uint64_t frame_remaining_ = 0;  // payload bytes of the current frame not yet received
  // Bytes handed to wslay that belong to no header or payload seen yet. Zero with no frame in
  // progress means wslay sits at a frame boundary with an empty buffer.
  uint32_t pending_ = 0;
  // The pending bytes when they are a header whose payload has not started (wslay reports a
  // frame only with its first payload byte; the size limit must not wait for that).
  uint8_t header_[kMaxFrameHeader];
  uint8_t control_len_ = 0;
  uint8_t frame_opcode_ = 0;
  uint8_t message_opcode_ = 0;  // kText/kBinary while a data message is in progress, else 0
  // One byte of flags: the inflater pointer above already costs 8 bytes per connection.
  bool frame_fin_ : 1 = false;
  bool done_ : 1 = false;  // after on_close or a violation
  bool deflate_ : 1 = false;
  bool keep_inflater_ : 1 = false;
  bool inflate_takeover_ : 1 = false;  // ... and its window carries over to the next message
  bool compressed_ : 1 = false;  // the message in progress is compressed
  Utf8Validator utf8_;
};

}  // namespace ringway::ws
