#include "ws/frame_writer.h"

#include <wslay/wslay.h>

#include <cstring>

namespace ringway::ws {
namespace {

thread_local ByteBuffer* tls_target = nullptr;

ssize_t append_to_target(const uint8_t* data, size_t len, int /*flags*/, void* /*user_data*/) {
  // Room was reserved before wslay_frame_send, so this append cannot fail.
  if (!tls_target || !tls_target->append(data, len)) return -1;
  return static_cast<ssize_t>(len);
}

// One encoder context per thread: encoding holds no state between whole frames.
struct EncoderContext {
  wslay_frame_context_ptr ctx = nullptr;
  ~EncoderContext() { reset(); }
  void reset() {
    if (ctx) wslay_frame_context_free(ctx);
    ctx = nullptr;
  }
  wslay_frame_context_ptr get() {
    if (!ctx) {
      wslay_frame_callbacks callbacks{};
      callbacks.send_callback = append_to_target;
      if (wslay_frame_context_init(&ctx, &callbacks, nullptr) != 0) ctx = nullptr;
    }
    return ctx;
  }
};

thread_local EncoderContext tls_encoder;

// Length of the longest prefix of s, at most max bytes, that does not end inside a code point.
size_t utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  // Back off continuation bytes (10xxxxxx) so the cut lands before a lead byte.
  while (n > 0 && (static_cast<uint8_t>(s[n]) & 0xc0) == 0x80) --n;
  return n;
}

}  // namespace

bool write_frame(ByteBuffer& out, Opcode op, std::span<const uint8_t> payload, bool fin) {
  auto opcode = static_cast<uint8_t>(op);
  if (!is_known_opcode(opcode)) return false;
  if (is_control(opcode) && (!fin || payload.size() > kMaxControlPayload)) return false;
  if (payload.size() > SIZE_MAX - kMaxFrameHeader - out.size()) return false;
  // Reserving first means the send callback never fails halfway, which would leave a partial
  // frame in out and wslay's output state mid-frame.
  if (!out.reserve(out.size() + kMaxFrameHeader + payload.size())) return false;
  wslay_frame_context_ptr ctx = tls_encoder.get();
  if (!ctx) return false;
  wslay_frame_iocb iocb{};
  iocb.fin = fin ? 1 : 0;
  iocb.opcode = opcode;
  iocb.mask = 0;
  iocb.payload_length = payload.size();
  iocb.data = payload.data();
  iocb.data_length = payload.size();
  tls_target = &out;
  ssize_t r = wslay_frame_send(ctx, &iocb);
  tls_target = nullptr;
  if (r != static_cast<ssize_t>(payload.size())) {
    tls_encoder.reset();  // never reuse a context whose output state is unknown
    return false;
  }
  return true;
}

bool write_close(ByteBuffer& out, uint16_t code, std::string_view reason) {
  if (code == 0) return write_frame(out, Opcode::kClose, {});
  uint8_t payload[kMaxControlPayload];
  payload[0] = static_cast<uint8_t>(code >> 8);
  payload[1] = static_cast<uint8_t>(code);
  size_t n = utf8_prefix(reason, kMaxControlPayload - 2);
  if (n != 0) std::memcpy(payload + 2, reason.data(), n);  // data() may be null when empty
  return write_frame(out, Opcode::kClose, {payload, 2 + n});
}

}  // namespace ringway::ws
