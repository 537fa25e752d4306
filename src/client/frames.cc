// Client frames out (the server-side header encoder plus the mask bit and key), server frames
// in (see frames.h for what is checked).
#include "client/frames.h"

#include <cstring>

#include "ws/close_code.h"
#include "ws/frame_writer.h"

namespace ringway::client {

size_t encode_client_header(uint8_t out[kMaxClientHeader], ws::Opcode op, uint64_t length,
                            uint32_t mask_key, bool compressed) {
  size_t n = ws::encode_header(out, op, length, true);
  if (compressed) out[0] |= 0x40;
  out[1] |= 0x80;
  std::memcpy(out + n, &mask_key, 4);
  return n + 4;
}

void mask_bytes(uint8_t* p, size_t n, uint32_t mask_key) {
  uint64_t wide = (uint64_t(mask_key) << 32) | mask_key;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= wide;
    std::memcpy(p + i, &v, 8);
  }
  uint8_t key[4];
  std::memcpy(key, &mask_key, 4);
  for (; i < n; ++i) p[i] ^= key[i & 3];
}

bool append_frame(ByteBuffer& out, ws::Opcode op, std::span<const uint8_t> payload,
                  uint32_t mask_key, bool compressed) {
  if (ws::is_control(uint8_t(op)) && payload.size() > ws::kMaxControlPayload) return false;
  if (payload.size() > SIZE_MAX / 2) return false;
  uint8_t head[kMaxClientHeader];
  size_t h = encode_client_header(head, op, payload.size(), mask_key, compressed);
  uint8_t* p = out.grow(h + payload.size());
  if (!p) return false;
  std::memcpy(p, head, h);
  if (!payload.empty()) std::memcpy(p + h, payload.data(), payload.size());
  mask_bytes(p + h, payload.size(), mask_key);
  return true;
}

bool append_text_frame(ByteBuffer& out, std::string_view text, uint32_t mask_key) {
  return append_frame(out, ws::Opcode::kText,
                      {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, mask_key);
}

bool append_close_frame(ByteBuffer& out, uint16_t code, std::string_view reason,
                        uint32_t mask_key) {
  uint8_t frame[ws::kMaxControlFrameBytes];  // the server encoder cuts the reason correctly
  size_t n = ws::encode_close(frame, code, reason);
  if (n == 0) return false;
  return append_frame(out, ws::Opcode::kClose, {frame + 2, n - 2}, mask_key);
}

void ServerFrameReader::reset() {
  in_.release();
  message_.release();
  message_op_ = 0;
  done_ = false;
  failure_ = {};
  utf8_.reset();
  deflate_ = keep_inflater_ = compressed_ = false;
  inflater_.reset();
}

bool ServerFrameReader::fail(uint16_t code, const char* what) {
  failure_ = {code, what};
  done_ = true;
  in_.release();
  message_.release();
  inflater_.reset();
  return false;
}

int ServerFrameReader::parse_header(const uint8_t* p, size_t n, Header& h) {
  if (n < 2) return 0;
  if (p[0] & 0x30) return fail(1002, "reserved bits set"), -1;
  h.fin = p[0] & 0x80;
  h.rsv1 = p[0] & 0x40;
  h.opcode = p[0] & 0x0f;
  if (!ws::is_known_opcode(h.opcode)) return fail(1002, "reserved opcode"), -1;
  if (h.rsv1) {  // RFC 7692 §6.1: the first frame of a compressed message, nothing else
    if (!deflate_) return fail(1002, "RSV1 set without a negotiated extension"), -1;
    if (ws::is_control(h.opcode)) return fail(1002, "RSV1 on a control frame"), -1;
    if (h.opcode == uint8_t(ws::Opcode::kContinuation))
      return fail(1002, "RSV1 on a continuation frame"), -1;
  }
  if (p[1] & 0x80) return fail(1002, "masked server frame"), -1;
  uint64_t len = p[1] & 0x7f;
  size_t size = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t(p[2]) << 8) | p[3];
    if (len < 126) return fail(1002, "non-minimal length"), -1;
    size = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    if (len >> 63) return fail(1002, "64-bit length with the high bit set"), -1;
    if (len <= 0xffff) return fail(1002, "non-minimal length"), -1;
    size = 10;
  }
  if (ws::is_control(h.opcode)) {
    if (!h.fin) return fail(1002, "fragmented control frame"), -1;
    if (len > ws::kMaxControlPayload) return fail(1002, "control frame over 125 bytes"), -1;
  } else {
    bool continuation = h.opcode == uint8_t(ws::Opcode::kContinuation);
    if (continuation && !message_op_) return fail(1002, "continuation without a message"), -1;
    if (!continuation && message_op_) return fail(1002, "new message inside a fragmented one"), -1;
    uint64_t before = continuation ? message_.size() : 0;
    if (len > max_message_ || before + len > max_message_) return fail(1009, "message too big"), -1;
  }
  h.size = size;
  h.length = len;
  return int(size);
}

bool ServerFrameReader::frame(const Header& h, std::span<const uint8_t> payload,
                              ServerFrameSink& sink) {
  switch (ws::Opcode(h.opcode)) {
    case ws::Opcode::kPing: return sink.on_ping(payload);
    case ws::Opcode::kPong: return sink.on_pong(payload);
    case ws::Opcode::kClose: {
      if (payload.size() == 1) return fail(1002, "1-byte close payload");
      uint16_t code = 0;
      std::string_view reason;
      if (payload.size() >= 2) {
        code = uint16_t((payload[0] << 8) | payload[1]);
        if (!ws::is_valid_received_close_code(code)) return fail(1002, "invalid close code");
        if (!ws::is_valid_utf8(payload.subspan(2))) return fail(1007, "close reason not UTF-8");
        reason = {reinterpret_cast<const char*>(payload.data() + 2), payload.size() - 2};
      }
      done_ = true;
      sink.on_close(code, reason);
      return false;
    }
    default: break;
  }
  bool continuation = h.opcode == uint8_t(ws::Opcode::kContinuation);
  uint8_t op = continuation ? message_op_ : h.opcode;
  if (!continuation) compressed_ = h.rsv1;
  if (compressed_) return compressed_frame(h, op, payload, sink);
  if (op == uint8_t(ws::Opcode::kText)) {
    if (!continuation) utf8_.reset();
    if (!utf8_.feed(payload.data(), payload.size()) || (h.fin && !utf8_.complete()))
      return fail(1007, "invalid UTF-8");
  }
  if (h.fin && !continuation) return sink.on_message(ws::Opcode(op), payload);
  if (!message_.append(payload)) return fail(1011, "out of memory");
  if (!h.fin) {
    message_op_ = op;
    return true;
  }
  message_op_ = 0;
  bool go_on = sink.on_message(ws::Opcode(op), message_.span());
  message_.release();
  return go_on;
}

bool ServerFrameReader::compressed_frame(const Header& h, uint8_t op,
                                         std::span<const uint8_t> payload, ServerFrameSink& sink) {
  bool continuation = h.opcode == uint8_t(ws::Opcode::kContinuation);
  if (!inflater_) {
    inflater_.reset(ws::detail::acquire_inflater());
    if (!inflater_) return fail(1011, "out of memory");
  }
  ws::detail::InflateState& s = *inflater_;
  if (!continuation) {
    s.out.clear();
    utf8_.reset();
  }
  ws::Utf8Validator* text = op == uint8_t(ws::Opcode::kText) ? &utf8_ : nullptr;
  ws::InflateStatus st = ws::inflate_append(s, payload.data(), payload.size(), max_message_, text);
  if (st == ws::InflateStatus::kOk && h.fin)
    st = ws::inflate_append(s, ws::kDeflateTail, sizeof ws::kDeflateTail, max_message_, text);
  switch (st) {
    case ws::InflateStatus::kOk: break;
    case ws::InflateStatus::kTooBig: return fail(1009, "message too big (inflated)");
    case ws::InflateStatus::kInvalidData: return fail(1007, "invalid deflate data");
    case ws::InflateStatus::kInvalidUtf8: return fail(1007, "invalid UTF-8");
    case ws::InflateStatus::kNoMemory: return fail(1011, "out of memory");
  }
  if (!h.fin) {
    message_op_ = op;
    return true;
  }
  message_op_ = 0;
  compressed_ = false;
  if (text && !utf8_.complete()) return fail(1007, "invalid UTF-8");
  bool go_on = sink.on_message(ws::Opcode(op), s.out.span());
  if (keep_inflater_) s.out.clear();
  else inflater_.reset();  // back to the pool: no inflate state between messages
  return go_on;
}

size_t ServerFrameReader::consume(const uint8_t* p, size_t n, ServerFrameSink& sink) {
  size_t used = 0;
  while (!done_ && used < n) {
    Header h{};
    int r = parse_header(p + used, n - used, h);
    if (r <= 0) break;
    if (n - used - h.size < h.length) break;
    std::span<const uint8_t> payload(p + used + h.size, size_t(h.length));
    used += h.size + size_t(h.length);
    if (!frame(h, payload, sink)) done_ = true;
  }
  return used;
}

ReadFailure ServerFrameReader::feed(std::span<const uint8_t> bytes, ServerFrameSink& sink) {
  if (done_) return {};
  if (in_.empty()) {  // whole frames straight from the caller's bytes
    size_t used = consume(bytes.data(), bytes.size(), sink);
    if (!done_ && used < bytes.size() && !in_.append(bytes.subspan(used)))
      fail(1011, "out of memory");
  } else {
    if (!in_.append(bytes)) {
      fail(1011, "out of memory");
    } else {
      // The sink may be called with spans into in_, so it is consumed only afterwards.
      size_t used = consume(in_.data(), in_.size(), sink);
      if (!done_) in_.consume(used);
    }
  }
  if (done_) {
    in_.release();
    ReadFailure f = failure_;
    failure_ = {};
    return f;
  }
  if (in_.empty()) in_.release();
  return {};
}

}  // namespace ringway::client
