#include "load/frames.h"

#include <algorithm>
#include <cstring>

namespace ringway::load {

size_t write_client_header(uint8_t* out, uint8_t opcode, uint64_t payload_len, uint32_t mask) {
  size_t n = 0;
  out[n++] = uint8_t(0x80 | (opcode & 0x0f));
  if (payload_len < 126) {
    out[n++] = uint8_t(0x80 | payload_len);
  } else if (payload_len <= 0xffff) {
    out[n++] = 0x80 | 126;
    out[n++] = uint8_t(payload_len >> 8);
    out[n++] = uint8_t(payload_len);
  } else {
    out[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) out[n++] = uint8_t(payload_len >> (8 * i));
  }
  std::memcpy(out + n, &mask, 4);
  return n + 4;
}

void apply_mask(uint8_t* p, size_t n, uint32_t mask) {
  uint64_t m8 = (uint64_t(mask) << 32) | mask;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= m8;
    std::memcpy(p + i, &v, 8);
  }
  const auto* mb = reinterpret_cast<const uint8_t*>(&mask);
  for (; i < n; ++i) p[i] ^= mb[i & 3];
}

bool append_client_frame(ByteBuffer& out, uint8_t opcode, std::span<const uint8_t> payload,
                         uint32_t mask) {
  size_t hmax = client_header_size(payload.size());
  uint8_t* p = out.grow(hmax + payload.size());
  if (!p) return false;
  size_t h = write_client_header(p, opcode, payload.size(), mask);
  if (!payload.empty()) std::memcpy(p + h, payload.data(), payload.size());
  apply_mask(p + h, payload.size(), mask);
  return true;
}

bool append_client_close(ByteBuffer& out, uint16_t code, std::span<const uint8_t> reason,
                         uint32_t mask) {
  uint8_t body[kMaxControlPayload];
  size_t n = 0;
  if (code) {
    body[n++] = uint8_t(code >> 8);
    body[n++] = uint8_t(code);
    size_t r = std::min(reason.size(), kMaxControlPayload - 2);
    if (r) std::memcpy(body + n, reason.data(), r);
    n += r;
  }
  return append_client_frame(out, kOpClose, {body, n}, mask);
}

const char* frame_error_name(FrameError e) {
  switch (e) {
    case FrameError::kNone: return "none";
    case FrameError::kMasked: return "masked server frame";
    case FrameError::kReservedBits: return "RSV bits set";
    case FrameError::kUnknownOpcode: return "unknown opcode";
    case FrameError::kControlFragmented: return "fragmented control frame";
    case FrameError::kControlTooLong: return "control frame over 125 bytes";
    case FrameError::kNonMinimalLength: return "non-minimal length encoding";
    case FrameError::kLengthHighBit: return "64-bit length with the high bit set";
    case FrameError::kTooBig: return "message over the limit";
    case FrameError::kUnexpectedContinuation: return "continuation without a message";
    case FrameError::kInterleavedMessage: return "data frame inside a fragmented message";
  }
  return "?";
}

void ServerFrameParser::reset() {
  pending_.release();
  message_.release();
  message_op_ = 0;
  error_ = FrameError::kNone;
}

int ServerFrameParser::parse_header(const uint8_t* p, size_t n, Header& h) {
  if (n < 2) return 0;
  uint8_t b0 = p[0], b1 = p[1];
  auto fail = [this](FrameError e) {
    error_ = e;
    return -1;
  };
  if (b0 & 0x70) return fail(FrameError::kReservedBits);
  h.opcode = b0 & 0x0f;
  h.fin = b0 & 0x80;
  bool control = h.opcode & 0x08;
  if (!(h.opcode <= 2 || (h.opcode >= 8 && h.opcode <= 10)))
    return fail(FrameError::kUnknownOpcode);
  if (b1 & 0x80) return fail(FrameError::kMasked);
  uint64_t len = b1 & 0x7f;
  size_t hl = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t(p[2]) << 8) | p[3];
    if (len < 126) return fail(FrameError::kNonMinimalLength);
    hl = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    if (len >> 63) return fail(FrameError::kLengthHighBit);
    if (len <= 0xffff) return fail(FrameError::kNonMinimalLength);
    hl = 10;
  }
  if (control) {
    if (!h.fin) return fail(FrameError::kControlFragmented);
    if (len > kMaxControlPayload) return fail(FrameError::kControlTooLong);
  } else {
    // Decided from the header, before a byte of the payload is buffered.
    uint64_t open = h.opcode == kOpContinuation ? message_.size() : 0;
    if (len > max_message_ || open + len > max_message_) return fail(FrameError::kTooBig);
  }
  h.header_len = hl;
  h.payload_len = len;
  return int(hl);
}

bool ServerFrameParser::deliver(const Header& h, std::span<const uint8_t> payload,
                                FrameSink& sink, bool& stop) {
  if (h.opcode & 0x08) {
    stop = !sink.on_frame(h.opcode, payload);
    return true;
  }
  if (h.opcode == kOpContinuation) {
    if (!message_op_) {
      error_ = FrameError::kUnexpectedContinuation;
      return false;
    }
    if (!message_.append(payload)) {
      error_ = FrameError::kTooBig;
      return false;
    }
    if (h.fin) {
      uint8_t op = message_op_;
      message_op_ = 0;
      stop = !sink.on_frame(op, message_.span());
      message_.release();
    }
    return true;
  }
  if (message_op_) {
    error_ = FrameError::kInterleavedMessage;
    return false;
  }
  if (h.fin) {
    stop = !sink.on_frame(h.opcode, payload);
    return true;
  }
  message_op_ = h.opcode;
  if (!message_.append(payload)) {
    error_ = FrameError::kTooBig;
    return false;
  }
  return true;
}

ServerFrameParser::Result ServerFrameParser::feed(std::span<const uint8_t> in, FrameSink& sink) {
  if (error_ != FrameError::kNone) return Result::kError;
  bool stop = false;
  // First finish the frame that an earlier call left incomplete, taking only its bytes.
  while (!pending_.empty()) {
    Header h{};
    int r = parse_header(pending_.data(), pending_.size(), h);
    if (r < 0) return Result::kError;
    size_t want;
    if (r == 0) {  // header still incomplete: take just enough to know its length
      size_t have = pending_.size();
      if (have < 2) {
        want = 2;
      } else {
        uint8_t l = pending_.data()[1] & 0x7f;
        want = l == 126 ? 4 : l == 127 ? 10 : 2;
      }
    } else {
      want = h.header_len + size_t(h.payload_len);
    }
    if (want > pending_.size() && in.empty()) return Result::kOk;
    size_t take = std::min(want - pending_.size(), in.size());
    if (!pending_.append(in.first(take))) {
      error_ = FrameError::kTooBig;
      return Result::kError;
    }
    in = in.subspan(take);
    if (pending_.size() < want) return Result::kOk;  // still incomplete, and `in` is used up
    if (r == 0) continue;                            // header complete now: size the frame
    bool ok = deliver(h, pending_.span().subspan(h.header_len), sink, stop);
    pending_.release();
    if (!ok) return Result::kError;
    if (stop) return Result::kStopped;
  }
  // Whole frames straight from the input.
  while (!in.empty()) {
    Header h{};
    int r = parse_header(in.data(), in.size(), h);
    if (r < 0) return Result::kError;
    if (r == 0 || in.size() - h.header_len < h.payload_len) {
      if (!pending_.append(in)) {
        error_ = FrameError::kTooBig;
        return Result::kError;
      }
      return Result::kOk;
    }
    size_t total = h.header_len + size_t(h.payload_len);
    if (!deliver(h, in.subspan(h.header_len, size_t(h.payload_len)), sink, stop))
      return Result::kError;
    if (stop) return Result::kStopped;
    in = in.subspan(total);
  }
  return Result::kOk;
}

}  // namespace ringway::load
