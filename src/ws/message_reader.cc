#include "ws/message_reader.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "ws/frame_context_pool.h"

namespace ringway::ws {
namespace {

constexpr ReadResult kOk{0, ""};

constexpr ReadResult protocol_error(const char* why) { return {close_code::kProtocolError, why}; }

}  // namespace

MessageReader::MessageReader(size_t max_message_size) : max_message_size_(max_message_size) {}

MessageReader::~MessageReader() { release_all(); }

MessageReader::MessageReader(MessageReader&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)),
      assembly_(std::move(o.assembly_)),
      control_(std::exchange(o.control_, nullptr)),
      inflater_(std::exchange(o.inflater_, nullptr)),
      max_message_size_(o.max_message_size_),
      frame_remaining_(o.frame_remaining_),
      pending_(o.pending_),
      control_len_(o.control_len_),
      frame_opcode_(o.frame_opcode_),
      message_opcode_(o.message_opcode_),
      frame_fin_(o.frame_fin_),
      done_(o.done_),
      deflate_(o.deflate_),
      keep_inflater_(o.keep_inflater_),
      inflate_takeover_(o.inflate_takeover_),
      compressed_(o.compressed_),
      utf8_(o.utf8_) {
  std::memcpy(header_, o.header_, sizeof header_);
  o.done_ = true;  // a moved-from reader's frame state is meaningless without its context
}

MessageReader& MessageReader::operator=(MessageReader&& o) noexcept {
  if (this != &o) {
    release_all();
    ctx_ = std::exchange(o.ctx_, nullptr);
    assembly_ = std::move(o.assembly_);
    control_ = std::exchange(o.control_, nullptr);
    inflater_ = std::exchange(o.inflater_, nullptr);
    max_message_size_ = o.max_message_size_;
    frame_remaining_ = o.frame_remaining_;
    pending_ = o.pending_;
    std::memcpy(header_, o.header_, sizeof header_);
    control_len_ = o.control_len_;
    frame_opcode_ = o.frame_opcode_;
    message_opcode_ = o.message_opcode_;
    frame_fin_ = o.frame_fin_;
    done_ = o.done_;
    deflate_ = o.deflate_;
    keep_inflater_ = o.keep_inflater_;
    inflate_takeover_ = o.inflate_takeover_;
    compressed_ = o.compressed_;
    utf8_ = o.utf8_;
    o.done_ = true;
  }
  return *this;
}

void MessageReader::release_all() {
  if (ctx_) {
    // Only a context at a frame boundary with nothing buffered is safe to hand to another reader.
    if (frame_remaining_ == 0 && pending_ == 0) {
      detail::release_decoder_context(ctx_);
    } else {
      detail::free_decoder_context(ctx_);
    }
    ctx_ = nullptr;
  }
  std::free(control_);
  control_ = nullptr;
  detail::release_inflater(inflater_);  // reset there, whatever state it was left in
  inflater_ = nullptr;
  assembly_.release();
}

ReadResult MessageReader::fail(ReadResult r) {
  // wslay's state after a rejected header is not a clean boundary: never pool it.
  if (ctx_) {
    detail::free_decoder_context(ctx_);
    ctx_ = nullptr;
  }
  done_ = true;
  release_all();
  return r;
}

ReadResult MessageReader::feed(std::span<const uint8_t> bytes, MessageSink& sink) {
  if (done_ || bytes.empty()) return kOk;
  if (!ctx_) {
    ctx_ = detail::acquire_decoder_context();
    if (!ctx_) return fail({close_code::kInternal, "out of memory"});
  }
  detail::InputCursor in{bytes.data(), bytes.size()};
  for (;;) {
    wslay_frame_iocb iocb;
    size_t before = in.left;
    // Set per call: a sink callback may feed another reader on this thread in between.
    detail::set_decoder_input(&in);
    ssize_t r = wslay_frame_recv(ctx_, &iocb);
    detail::set_decoder_input(nullptr);
    pending_ += static_cast<uint32_t>(before - in.left);
    if (r == WSLAY_ERR_WANT_READ) {
      if (in.left == 0) break;
      // wslay asks for more only after taking all it was offered; anything else is a bug.
      if (in.left == before) return fail({close_code::kInternal, "decoder stalled"});
      continue;
    }
    if (r < 0) return fail(protocol_error("protocol error"));
    ReadResult res = on_chunk(iocb, sink);
    if (res.close_code) return fail(res);
    if (done_) {  // the peer's close was delivered; whatever follows it is ignored
      release_all();
      return kOk;
    }
  }
  if (frame_remaining_ == 0) {
    if (pending_ == 0) {
      detail::release_decoder_context(ctx_);
      ctx_ = nullptr;
    } else {
      ReadResult res = check_pending_header(bytes);
      if (res.close_code) return fail(res);
    }
  }
  return kOk;
}

ReadResult MessageReader::check_header(const Header& h) const {
  bool continuation = h.opcode == static_cast<uint8_t>(Opcode::kContinuation);
  // RSV1 marks a compressed message on its first frame only (RFC 7692 §6.1).
  bool rsv1_allowed = deflate_ && !continuation && !is_control(h.opcode);
  if (h.rsv == 4 && continuation && deflate_) return protocol_error("RSV1 on a continuation frame");
  if (h.rsv && !(h.rsv == 4 && rsv1_allowed)) return protocol_error("reserved bits set");
  if (!is_known_opcode(h.opcode)) return protocol_error("reserved opcode");
  if (!h.masked) return protocol_error("unmasked frame");
  if (is_control(h.opcode)) {
    // wslay rejects these too; kept so the rule does not depend on it.
    if (!h.fin || h.payload_length > kMaxControlPayload) return protocol_error("bad control frame");
    return kOk;
  }
  if (continuation && !message_opcode_) return protocol_error("unexpected continuation");
  if (!continuation && message_opcode_) return protocol_error("expected continuation");
  bool compressed = continuation ? compressed_ : h.rsv == 4;
  if (compressed) {
    // The inflated size is what the limit is about (counted as it grows); a compressed frame
    // may only be as long as the largest message plus what deflate can add to incompressible
    // data (a 5-byte header per stored block, and a compressor with a small memLevel emits
    // blocks of 2 KiB: websockets does).
    if (h.payload_length > max_message_size_ + (max_message_size_ >> 2) + 1024)
      return {close_code::kMessageTooBig, "message too big"};
    return kOk;
  }
  // Decided from the declared length, before any payload is received or buffered.
  if (h.payload_length > max_message_size_ - assembly_.size()) {
    return {close_code::kMessageTooBig, "message too big"};
  }
  return kOk;
}

ReadResult MessageReader::check_pending_header(std::span<const uint8_t> fed) {
  // Every pending byte is a header byte here: wslay reports a frame as soon as one payload byte
  // (or an empty payload) follows its header.
  size_t n = pending_;
  if (n > kMaxFrameHeader) return {close_code::kInternal, "decoder out of step"};
  if (n <= fed.size()) {
    std::memcpy(header_, fed.data() + fed.size() - n, n);
  } else {  // the header began in an earlier call, whose bytes are already in header_
    std::memcpy(header_ + (n - fed.size()), fed.data(), fed.size());
  }
  if (n < 2) return kOk;
  uint8_t len7 = header_[1] & 0x7f;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  if (n < 2 + ext) return kOk;
  uint64_t length = len7;
  if (ext) {
    length = 0;
    for (size_t i = 0; i < ext; ++i) length = (length << 8) | header_[2 + i];
  }
  // wslay has already parsed these bytes without error (minimal encoding, control-frame rules).
  Header h{(header_[0] & 0x80) != 0, static_cast<uint8_t>((header_[0] >> 4) & 7),
           static_cast<uint8_t>(header_[0] & 0xf), (header_[1] & 0x80) != 0, length};
  return check_header(h);
}

ReadResult MessageReader::on_chunk(const wslay_frame_iocb& iocb, MessageSink& sink) {
  bool first = frame_remaining_ == 0;
  if (first) {
    pending_ -= static_cast<uint32_t>(frame_header_size(iocb.payload_length, iocb.mask));
    Header h{iocb.fin != 0, iocb.rsv, iocb.opcode, iocb.mask != 0, iocb.payload_length};
    ReadResult res = check_header(h);
    if (res.close_code) return res;
    frame_opcode_ = iocb.opcode;
    frame_fin_ = h.fin;
    frame_remaining_ = iocb.payload_length;
    if (!is_control(iocb.opcode) && iocb.opcode != static_cast<uint8_t>(Opcode::kContinuation)) {
      message_opcode_ = iocb.opcode;
      compressed_ = h.rsv == 4;  // check_header allowed RSV1 only so
      if (compressed_ && !inflater_) {
        inflater_ = detail::acquire_inflater();
        if (!inflater_) return {close_code::kInternal, "out of memory"};
      }
    }
  }
  size_t n = iocb.data_length;
  pending_ -= static_cast<uint32_t>(n);
  frame_remaining_ -= n;
  if (is_control(frame_opcode_)) return on_control_payload(iocb.data, n, first, sink);
  return on_data_payload(iocb.data, n, first, sink);
}

ReadResult MessageReader::on_control_payload(const uint8_t* data, size_t n, bool first,
                                             MessageSink& sink) {
  bool last = frame_remaining_ == 0;
  if (first && last) return deliver_control({data, n}, sink);  // whole frame in one chunk: no copy
  if (!control_) {
    control_ = static_cast<uint8_t*>(std::malloc(kMaxControlPayload));
    if (!control_) return {close_code::kInternal, "out of memory"};
    control_len_ = 0;
  }
  // Cannot overflow: the frame's declared length was checked against kMaxControlPayload.
  std::memcpy(control_ + control_len_, data, n);
  control_len_ = static_cast<uint8_t>(control_len_ + n);
  if (!last) return kOk;
  ReadResult res = deliver_control({control_, control_len_}, sink);
  std::free(control_);
  control_ = nullptr;
  control_len_ = 0;
  return res;
}

ReadResult MessageReader::deliver_control(std::span<const uint8_t> payload, MessageSink& sink) {
  switch (static_cast<Opcode>(frame_opcode_)) {
    case Opcode::kPing:
      sink.on_ping(payload);
      return kOk;
    case Opcode::kPong:
      sink.on_pong(payload);
      return kOk;
    default:
      break;
  }
  uint16_t code = 0;
  std::span<const uint8_t> reason;
  if (!payload.empty()) {
    if (payload.size() < 2) return protocol_error("bad close payload");
    code = static_cast<uint16_t>(payload[0] << 8 | payload[1]);
    if (!is_valid_received_close_code(code)) return protocol_error("invalid close code");
    reason = payload.subspan(2);
    if (!is_valid_utf8(reason)) return {close_code::kInvalidPayload, "invalid utf-8"};
  }
  done_ = true;
  sink.on_close(code, reason);
  return kOk;
}

ReadResult MessageReader::on_data_payload(const uint8_t* data, size_t n, bool first,
                                          MessageSink& sink) {
  if (compressed_) return on_compressed_payload(data, n, sink);
  // Checked chunk by chunk so a bad byte fails the message before the rest of it arrives.
  if (message_opcode_ == static_cast<uint8_t>(Opcode::kText) && !utf8_.feed(data, n)) {
    return {close_code::kInvalidPayload, "invalid utf-8"};
  }
  bool frame_done = frame_remaining_ == 0;
  bool starts_message = frame_opcode_ != static_cast<uint8_t>(Opcode::kContinuation);
  if (first && frame_done && frame_fin_ && starts_message) {
    return deliver_message({data, n}, sink);  // a whole message in one chunk: no copy
  }
  // Grows with the bytes received, never with the declared length.
  if (!assembly_.append(data, n)) return {close_code::kInternal, "out of memory"};
  if (!frame_done || !frame_fin_) return kOk;
  ReadResult res = deliver_message(assembly_.span(), sink);
  assembly_.release();
  return res;
}

ReadResult MessageReader::deliver_message(std::span<const uint8_t> payload, MessageSink& sink) {
  auto op = static_cast<Opcode>(message_opcode_);
  if (op == Opcode::kText) {
    bool whole = utf8_.complete();
    utf8_.reset();
    if (!whole) return {close_code::kInvalidPayload, "invalid utf-8"};
  }
  message_opcode_ = 0;
  sink.on_message(op, payload);
  return kOk;
}

}  // namespace ringway::ws

namespace ringway::ws {

bool MessageReader::set_takeover(bool client_takeover, z_stream* server_stream,
                                 uint8_t client_window_bits) {
  if (!inflater_) inflater_ = detail::acquire_inflater();
  // A smaller window for a kept client context (the pool resets it to the full one).
  if (!inflater_ || inflateReset2(&inflater_->z, -int(client_window_bits)) != Z_OK) {
    Deflater::free_stream(server_stream);
    return false;
  }
  Deflater::free_stream(inflater_->deflate);
  inflater_->deflate = server_stream;
  keep_inflater_ = true;
  inflate_takeover_ = client_takeover;
  return true;
}

ReadResult MessageReader::on_compressed_payload(const uint8_t* data, size_t n, MessageSink& sink) {
  Utf8Validator* utf8 = message_opcode_ == static_cast<uint8_t>(Opcode::kText) ? &utf8_ : nullptr;
  auto check = [](InflateStatus st) -> ReadResult {
    switch (st) {
      case InflateStatus::kOk: return kOk;
      case InflateStatus::kTooBig: return {close_code::kMessageTooBig, kReasonInflatedTooBig};
      case InflateStatus::kInvalidData: return {close_code::kInvalidPayload, kReasonInvalidDeflate};
      case InflateStatus::kInvalidUtf8: return {close_code::kInvalidPayload, "invalid utf-8"};
      case InflateStatus::kNoMemory: break;
    }
    return {close_code::kInternal, "out of memory"};
  };
  inflater_->in_bytes += n;
  ReadResult res = check(inflate_append(*inflater_, data, n, max_message_size_, utf8));
  if (res.close_code || frame_remaining_ != 0 || !frame_fin_) return res;
  // The message's end: the tail the sender cut off goes back in (RFC 7692 §7.2.2).
  res = check(inflate_append(*inflater_, kDeflateTail, sizeof kDeflateTail, max_message_size_, utf8));
  if (res.close_code) return res;
  detail::InflateState* st = inflater_;
  sink.on_inflated(st->in_bytes, st->out.size());
  compressed_ = false;
  res = deliver_message(st->out.span(), sink);
  if (keep_inflater_) {
    st->out.release();  // kept between messages by this connection alone: not worth holding
    st->in_bytes = 0;
    // Without the client's context takeover the next message starts with an empty window.
    if (!inflate_takeover_ && inflateReset(&st->z) != Z_OK) return {close_code::kInternal, "inflate reset"};
    return res;
  }
  inflater_ = nullptr;
  detail::release_inflater(st);
  return res;
}

}  // namespace ringway::ws
