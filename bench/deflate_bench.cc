// permessage-deflate costs, measured side by side in one run: zlib's sync-flushed raw deflate
// (what Ringway sends, ws::Deflater) against libdeflate's whole-buffer compression at the same
// and a higher level, inflating, a publish to 10k deflate subscribers compressed once against
// once per recipient, and the memory one connection holds in each mode (docs/deflate.md).
//
//   bash bench/deflate_compare.sh      (prints the machine, date and commit with the table)
#include <benchmark/benchmark.h>
#include <libdeflate.h>
#include <malloc.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ws/deflate.h"
#include "ws/deflate_negotiation.h"
#include "ws/message_reader.h"

namespace {

using Bytes = std::vector<uint8_t>;

// Device JSON of about n bytes: repeated keys, varying numbers (xorshift, fixed seed).
Bytes device_json(size_t n) {
  std::string s = "{\"device\":\"d3f1a2\",\"readings\":[";
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; s.size() < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    s += "{\"sensor\":\"temp-" + std::to_string(i % 8) + "\",\"value\":" +
         std::to_string(x % 4000 / 100.0).substr(0, 5) + ",\"unit\":\"C\",\"ts\":" +
         std::to_string(1764633600000 + i * 250) + "},";
  }
  s.resize(n > 2 ? n - 2 : n);
  s += "]}";
  s.resize(n);
  return Bytes(s.begin(), s.end());
}

void report(benchmark::State& st, size_t in, size_t out) {
  st.SetBytesProcessed(int64_t(st.iterations() * in));
  st.counters["wire_bytes"] = double(out);
  st.counters["ratio"] = out ? double(in) / double(out) : 0;
}

void BM_ZlibSyncFlush(benchmark::State& st) {
  Bytes in = device_json(size_t(st.range(0)));
  ringway::ws::Deflater d;
  size_t out = 0;
  for (auto _ : st) {
    auto z = d.compress(in, 15);
    out = z.size();
    benchmark::DoNotOptimize(z.data());
  }
  report(st, in.size(), out);
}

// The same with zlib's hash table sized by memLevel (a reset clears it: 2^(memLevel+8) bytes).
void BM_ZlibSyncFlushMemLevel(benchmark::State& st) {
  Bytes in = device_json(size_t(st.range(0)));
  ringway::ws::Deflater d;
  z_stream* z = ringway::ws::Deflater::new_stream(15, int(st.range(1)));
  size_t out = 0;
  for (auto _ : st) {
    auto w = d.compress_with(*z, in);
    deflateReset(z);
    out = w.size();
    benchmark::DoNotOptimize(w.data());
  }
  ringway::ws::Deflater::free_stream(z);
  report(st, in.size(), out);
}

void BM_LibdeflateWhole(benchmark::State& st) {
  Bytes in = device_json(size_t(st.range(0)));
  libdeflate_compressor* c = libdeflate_alloc_compressor(int(st.range(1)));
  Bytes out(libdeflate_deflate_compress_bound(c, in.size()));
  size_t n = 0;
  for (auto _ : st) {
    n = libdeflate_deflate_compress(c, in.data(), in.size(), out.data(), out.size());
    benchmark::DoNotOptimize(out.data());
  }
  libdeflate_free_compressor(c);
  report(st, in.size(), n);
}

void BM_Inflate(benchmark::State& st) {
  Bytes in = device_json(size_t(st.range(0)));
  ringway::ws::Deflater d;
  auto z = d.compress(in, 15);
  Bytes wire(z.begin(), z.end());
  for (auto _ : st) {
    auto* s = ringway::ws::detail::acquire_inflater();
    ringway::ws::inflate_append(*s, wire.data(), wire.size(), 1 << 20, nullptr);
    ringway::ws::inflate_append(*s, ringway::ws::kDeflateTail, 4, 1 << 20, nullptr);
    benchmark::DoNotOptimize(s->out.data());
    ringway::ws::detail::release_inflater(s);
  }
  report(st, in.size(), wire.size());
}

// One 1 KiB publish to 10k deflate subscribers: one compression shared (Ringway) against one
// per recipient (a server that compresses each send).
void BM_FanoutCompressOnce(benchmark::State& st) {
  Bytes in = device_json(1024);
  ringway::ws::Deflater d;
  for (auto _ : st) benchmark::DoNotOptimize(d.compress(in, 15).data());
  st.counters["recipients"] = 10000;
}

void BM_FanoutPerRecipient(benchmark::State& st) {
  Bytes in = device_json(1024);
  ringway::ws::Deflater d;
  for (auto _ : st)
    for (int i = 0; i < 10000; ++i) benchmark::DoNotOptimize(d.compress(in, 15).data());
  st.counters["recipients"] = 10000;
}

// Heap bytes (glibc's count) one connection's reader holds after a message in each direction.
void BM_MemoryPerConnection(benchmark::State& st) {
  bool takeover = st.range(0) != 0;
  Bytes msg = device_json(1024);
  ringway::ws::Deflater d;
  auto z = d.compress(msg, 15);
  Bytes wire(z.begin(), z.end());
  Bytes frame = {0xc1, 0xfe, uint8_t(wire.size() >> 8), uint8_t(wire.size()), 0, 0, 0, 0};
  frame.insert(frame.end(), wire.begin(), wire.end());
  struct Sink : ringway::ws::MessageSink {
    void on_message(ringway::ws::Opcode, std::span<const uint8_t>) override {}
    void on_ping(std::span<const uint8_t>) override {}
    void on_pong(std::span<const uint8_t>) override {}
    void on_close(uint16_t, std::span<const uint8_t>) override {}
  } sink;
  ringway::ws::detail::drain_inflater_pool();
  int64_t held = 0;
  for (auto _ : st) {
    ringway::ws::detail::drain_inflater_pool();
    auto before = int64_t(mallinfo2().uordblks);
    auto* r = new ringway::ws::MessageReader();
    r->set_deflate(true);
    if (takeover)
      r->set_takeover(true,
                      ringway::ws::Deflater::new_stream(ringway::ws::kTakeoverWindowBits,
                                                        ringway::ws::kTakeoverMemLevel),
                      st.range(0) == 2 ? ringway::ws::kKeptClientWindowBits : 15);
    r->feed(frame, sink);
    if (z_stream* kept = r->server_stream()) d.compress_with(*kept, msg);
    // What the worker's pool keeps is shared by all its connections: not counted.
    ringway::ws::detail::drain_inflater_pool();
    held = int64_t(mallinfo2().uordblks) - before;  // the reader itself included
    delete r;
  }
  st.counters["heap_bytes"] = double(held);
}

}  // namespace

BENCHMARK(BM_ZlibSyncFlush)->Arg(100)->Arg(1024)->Arg(16384);
BENCHMARK(BM_ZlibSyncFlushMemLevel)->Args({100, 4})->Args({1024, 4})->Args({16384, 4})
    ->Args({100, 6})->Args({1024, 6})->Args({16384, 6});
BENCHMARK(BM_LibdeflateWhole)->Args({100, 1})->Args({1024, 1})->Args({16384, 1})
    ->Args({100, 6})->Args({1024, 6})->Args({16384, 6});
BENCHMARK(BM_Inflate)->Arg(100)->Arg(1024)->Arg(16384);
BENCHMARK(BM_FanoutCompressOnce);
BENCHMARK(BM_FanoutPerRecipient)->Unit(benchmark::kMillisecond);
// 0: deflate on; 1: takeover, the client's window 32 KiB; 2: takeover, cut to 4 KiB.
BENCHMARK(BM_MemoryPerConnection)->Arg(0)->Arg(1)->Arg(2)->Iterations(20);
BENCHMARK_MAIN();
