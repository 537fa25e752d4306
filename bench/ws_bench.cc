// ws layer micro-benchmarks: frame decoding through MessageReader, wslay's unmasking against a
// word-at-a-time unmask, and UTF-8 validation (ours against simdjson's whole-buffer validator).
//
//   cmake -S . -B build-ws-rel -G Ninja && cmake --build build-ws-rel --target ws_bench
//   ./build-ws-rel/bench/ws_bench
#include <benchmark/benchmark.h>
#include <simdjson.h>
#include <wslay/wslay.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

#include "ws/message_reader.h"
#include "ws/utf8.h"

namespace {

using ringway::ws::MessageReader;
using ringway::ws::MessageSink;
using ringway::ws::Opcode;
using Bytes = std::vector<uint8_t>;

constexpr uint8_t kMaskKey[4] = {0x9a, 0x3c, 0x51, 0xe7};
// Decoding is fed in pieces of this size, like reads from a socket's provided buffers.
constexpr size_t kRecvChunk = 16 * 1024;
// Each decode iteration works through about this many bytes of frames.
constexpr size_t kStreamBytes = 256 * 1024;

void add_masked_frame(Bytes& out, uint8_t opcode, const Bytes& payload) {
  out.push_back(0x80 | opcode);
  size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<uint8_t>(0x80 | n));
  } else if (n <= 0xffff) {
    out.push_back(0x80 | 126);
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n));
  } else {
    out.push_back(0x80 | 127);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(uint64_t{n} >> (8 * i)));
  }
  out.insert(out.end(), kMaskKey, kMaskKey + 4);
  for (size_t i = 0; i < n; ++i) out.push_back(payload[i] ^ kMaskKey[i % 4]);
}

Bytes random_bytes(size_t n) {
  std::mt19937_64 rng(n);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

struct CountingSink : MessageSink {
  size_t messages = 0;
  size_t bytes = 0;
  void on_message(Opcode, std::span<const uint8_t> p) override {
    ++messages;
    bytes += p.size();
  }
  void on_ping(std::span<const uint8_t>) override {}
  void on_pong(std::span<const uint8_t>) override {}
  void on_close(uint16_t, std::span<const uint8_t>) override {}
};

// Masked binary frames of state.range(0) payload bytes through MessageReader.
void BM_DecodeMaskedBinary(benchmark::State& state) {
  const size_t payload_size = static_cast<size_t>(state.range(0));
  const size_t frames = std::max<size_t>(1, kStreamBytes / (payload_size + 6));
  Bytes payload = random_bytes(payload_size);
  Bytes stream;
  for (size_t i = 0; i < frames; ++i) add_masked_frame(stream, 2, payload);
  MessageReader reader;
  CountingSink sink;
  for (auto _ : state) {
    for (size_t off = 0; off < stream.size(); off += kRecvChunk) {
      size_t n = std::min(kRecvChunk, stream.size() - off);
      auto r = reader.feed({stream.data() + off, n}, sink);
      if (r.close_code) state.SkipWithError("decode failed");
    }
  }
  if (sink.messages != frames * state.iterations()) state.SkipWithError("lost frames");
  state.SetBytesProcessed(static_cast<int64_t>(stream.size() * state.iterations()));
  state.SetItemsProcessed(static_cast<int64_t>(frames * state.iterations()));
  // Shown as time per frame (an inverted rate).
  state.counters["per_frame"] = benchmark::Counter(
      static_cast<double>(frames * state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DecodeMaskedBinary)->Arg(20)->Arg(16 * 1024);

// --- unmasking -------------------------------------------------------------------------------

constexpr size_t kUnmaskBytes = 16 * 1024;

struct WslaySource {
  const uint8_t* data;
  size_t left;
};

ssize_t wslay_source_recv(uint8_t* buf, size_t len, int, void* user) {
  auto* s = static_cast<WslaySource*>(user);
  size_t n = std::min(len, s->left);
  if (n == 0) return 0;
  std::memcpy(buf, s->data, n);
  s->data += n;
  s->left -= n;
  return static_cast<ssize_t>(n);
}

// wslay's path: copy into its 4096-byte input buffer and unmask byte by byte, as the reader does.
void BM_UnmaskWslay(benchmark::State& state) {
  Bytes frame;
  add_masked_frame(frame, 2, random_bytes(kUnmaskBytes));
  WslaySource source{};
  wslay_frame_callbacks callbacks{};
  callbacks.recv_callback = wslay_source_recv;
  wslay_frame_context_ptr ctx = nullptr;
  wslay_frame_context_init(&ctx, &callbacks, &source);
  uint64_t sum = 0;
  for (auto _ : state) {
    source = {frame.data(), frame.size()};
    wslay_frame_iocb iocb;
    ssize_t r;
    while ((r = wslay_frame_recv(ctx, &iocb)) > 0) sum += iocb.data[0];
    if (r != WSLAY_ERR_WANT_READ) state.SkipWithError("wslay failed");
  }
  benchmark::DoNotOptimize(sum);
  wslay_frame_context_free(ctx);
  state.SetBytesProcessed(static_cast<int64_t>(kUnmaskBytes * state.iterations()));
}
BENCHMARK(BM_UnmaskWslay);

// For comparison: XOR eight bytes at a time with the key repeated in a 64-bit word.
void unmask_words(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t key[4]) {
  uint64_t k;
  uint8_t k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  std::memcpy(&k, k8, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= k;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) dst[i] = src[i] ^ key[i % 4];
}

// Same copy as wslay (through a 4096-byte buffer) with the word-at-a-time unmask.
void BM_UnmaskWordCopy(benchmark::State& state) {
  Bytes src = random_bytes(kUnmaskBytes);
  uint8_t buf[4096];
  uint64_t sum = 0;
  for (auto _ : state) {
    for (size_t off = 0; off < src.size(); off += sizeof buf) {
      size_t n = std::min(sizeof buf, src.size() - off);
      unmask_words(buf, src.data() + off, n, kMaskKey);
      sum += buf[0];
      benchmark::ClobberMemory();
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetBytesProcessed(static_cast<int64_t>(kUnmaskBytes * state.iterations()));
}
BENCHMARK(BM_UnmaskWordCopy);

void BM_UnmaskWordInPlace(benchmark::State& state) {
  Bytes buf = random_bytes(kUnmaskBytes);
  for (auto _ : state) {
    unmask_words(buf.data(), buf.data(), buf.size(), kMaskKey);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(kUnmaskBytes * state.iterations()));
}
BENCHMARK(BM_UnmaskWordInPlace);

// --- UTF-8 -----------------------------------------------------------------------------------

constexpr size_t kTextBytes = 64 * 1024;

Bytes ascii_text() {
  std::string_view line = "{\"type\":\"event\",\"event\":\"message\",\"payload\":{\"seq\":12345}}\n";
  Bytes t;
  while (t.size() + line.size() <= kTextBytes) t.insert(t.end(), line.begin(), line.end());
  t.resize(kTextBytes, ' ');
  return t;
}

// Roughly a third of the bytes in 2-, 3- and 4-byte sequences, the rest ASCII.
Bytes mixed_text() {
  const std::string_view pieces[] = {"hello ", "caf\xc3\xa9 ", "\xd0\x9f\xd1\x80\xd0\xb8 ",
                                     "\xe2\x82\xac\xe6\x97\xa5 ", "\xf0\x9f\x98\x80 ", "ok, "};
  Bytes t;
  for (size_t i = 0;; ++i) {
    std::string_view p = pieces[i % std::size(pieces)];
    if (t.size() + p.size() > kTextBytes) break;
    t.insert(t.end(), p.begin(), p.end());
  }
  t.resize(kTextBytes, ' ');
  return t;
}

void run_validator(benchmark::State& state, const Bytes& text) {
  for (auto _ : state) {
    ringway::ws::Utf8Validator v;
    bool ok = v.feed(text.data(), text.size()) && v.complete();
    if (!ok) state.SkipWithError("rejected valid text");
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<int64_t>(text.size() * state.iterations()));
}

void run_simdjson(benchmark::State& state, const Bytes& text) {
  for (auto _ : state) {
    bool ok = simdjson::validate_utf8(reinterpret_cast<const char*>(text.data()), text.size());
    if (!ok) state.SkipWithError("rejected valid text");
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<int64_t>(text.size() * state.iterations()));
}

void BM_Utf8Ascii(benchmark::State& state) { run_validator(state, ascii_text()); }
void BM_Utf8Mixed(benchmark::State& state) { run_validator(state, mixed_text()); }
void BM_Utf8AsciiSimdjson(benchmark::State& state) { run_simdjson(state, ascii_text()); }
void BM_Utf8MixedSimdjson(benchmark::State& state) { run_simdjson(state, mixed_text()); }
BENCHMARK(BM_Utf8Ascii);
BENCHMARK(BM_Utf8Mixed);
BENCHMARK(BM_Utf8AsciiSimdjson);
BENCHMARK(BM_Utf8MixedSimdjson);

}  // namespace

BENCHMARK_MAIN();
