// Fuzzes ws::MessageReader. The input is [flags|n-1][n chunk sizes][client byte stream]: the
// stream is fed in chunks whose sizes cycle through the given ones, and again in one piece; the
// first byte's top bit negotiates permessage-deflate (RSV1 messages are inflated). Both runs must
// make the same sink calls and return the same close code, and every call must respect the
// reader's promises (valid UTF-8 text, sizes within the limit, nothing after close or an error).
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <span>
#include <vector>

#include "ws/message_reader.h"

namespace {

using ringway::ws::MessageReader;
using ringway::ws::Opcode;

constexpr size_t kMaxMessage = 64 * 1024;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Written from the definition, independent of the validator under test.
bool reference_utf8(std::span<const uint8_t> s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t b = s[i];
    size_t len = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || s.size() - i < len) return false;
    uint32_t cp = len == 1 ? b : b & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

struct Sink : ringway::ws::MessageSink {
  std::vector<uint8_t> log;  // every call, serialised, to compare the two runs
  bool closed = false;

  void record(uint8_t kind, uint16_t code, std::span<const uint8_t> p) {
    check(!closed);
    uint8_t head[7] = {kind, uint8_t(code >> 8), uint8_t(code), uint8_t(p.size() >> 24),
                       uint8_t(p.size() >> 16), uint8_t(p.size() >> 8), uint8_t(p.size())};
    log.insert(log.end(), head, head + sizeof head);
    log.insert(log.end(), p.begin(), p.end());
  }
  void on_message(Opcode op, std::span<const uint8_t> p) override {
    check(op == Opcode::kText || op == Opcode::kBinary);
    check(p.size() <= kMaxMessage);
    if (op == Opcode::kText) check(reference_utf8(p));
    record(static_cast<uint8_t>(op), 0, p);
  }
  void on_ping(std::span<const uint8_t> p) override {
    check(p.size() <= ringway::ws::kMaxControlPayload);
    record(9, 0, p);
  }
  void on_pong(std::span<const uint8_t> p) override {
    check(p.size() <= ringway::ws::kMaxControlPayload);
    record(10, 0, p);
  }
  void on_close(uint16_t code, std::span<const uint8_t> reason) override {
    check(code == 0 ? reason.empty() : ringway::ws::is_valid_received_close_code(code));
    check(reason.size() <= ringway::ws::kMaxControlPayload - 2);
    check(reference_utf8(reason));
    record(8, code, reason);
    closed = true;
  }
};

struct Run {
  Sink sink;
  uint16_t code = 0;
};

void feed(MessageReader& reader, Run& run, std::span<const uint8_t> chunk) {
  size_t calls = run.sink.log.size();
  ringway::ws::ReadResult r = reader.feed(chunk, run.sink);
  check(r.reason != nullptr);
  if (run.code || run.sink.closed) {
    // After a violation or a close nothing more happens.
    check(r.close_code == 0);
  }
  if (run.code) check(run.sink.log.size() == calls);
  if (r.close_code && !run.code) {
    check(r.close_code == 1002 || r.close_code == 1007 || r.close_code == 1009);
    run.code = r.close_code;
  }
  if (run.code || run.sink.closed) check(reader.idle());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t n_sizes = static_cast<size_t>(data[0] % 8) + 1;
  if (size < 1 + n_sizes) return 0;
  const uint8_t* sizes = data + 1;
  std::span<const uint8_t> stream(data + 1 + n_sizes, size - 1 - n_sizes);

  bool deflate = (data[0] & 0x80) != 0;
  Run chunked;
  {
    MessageReader reader(kMaxMessage);
    reader.set_deflate(deflate);
    size_t pos = 0;
    for (size_t i = 0; pos < stream.size(); ++i) {
      // Small values give byte-level splits; large ones cross wslay's 4096-byte buffer.
      uint8_t s = sizes[i % n_sizes];
      size_t len = s < 192 ? size_t{s} + 1 : static_cast<size_t>(s - 191) * 512;
      len = std::min(len, stream.size() - pos);
      feed(reader, chunked, stream.subspan(pos, len));
      pos += len;
    }
  }
  Run whole;
  {
    MessageReader reader(kMaxMessage);
    reader.set_deflate(deflate);
    feed(reader, whole, stream);
  }
  check(whole.code == chunked.code);
  check(whole.sink.closed == chunked.sink.closed);
  check(whole.sink.log == chunked.sink.log);
  return 0;
}
