// The output path and the mail rings, without sockets.
//
// Fan-out: one serialised 100-byte event frame queued to N connections' output queues, as a
// worker does for N local subscribers of a channel. "shared" queues a reference to one block
// (what the gateway does); "copy" appends a private copy per recipient (what a flat per-
// connection buffer costs). Each iteration also prepares and completes every queue's send, so
// the blocks go back and the next iteration starts from idle queues — the whole per-recipient
// cost except the syscall. Reported as ns per recipient.
//
// Mail: records per second from one thread to another through one SPSC ring, against the
// mutex-guarded vector of std::function the workers used before (one allocation per record).
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "io/block.h"
#include "io/mail.h"
#include "io/out_queue.h"

namespace {

using namespace ringway::io;

constexpr size_t kFrame = 100;

void complete_all(OutPools& pools, std::vector<OutQueue>& qs) {
  for (OutQueue& q : qs) {
    if (!q.prepare(pools)) continue;
    q.on_sent(pools, q.iov().iov_len);
  }
}

void BM_FanoutShared(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  OutPools pools;
  std::vector<OutQueue> qs(n);
  uint8_t frame[kFrame];
  std::memset(frame, 'x', sizeof frame);
  for (auto _ : state) {
    Block* b = Block::create(kFrame);
    std::memcpy(b->data(), frame, kFrame);
    b->grow(kFrame);
    for (OutQueue& q : qs) q.append_shared(pools, b, 0, kFrame);
    b->unref();  // the producer's reference; the queues hold theirs
    complete_all(pools, qs);
  }
  state.counters["ns_per_recipient"] = benchmark::Counter(
      double(state.iterations()) * double(n) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FanoutShared)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_FanoutCopy(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  OutPools pools;
  std::vector<OutQueue> qs(n);
  uint8_t frame[kFrame];
  std::memset(frame, 'x', sizeof frame);
  for (auto _ : state) {
    for (OutQueue& q : qs) q.append(pools, {frame, kFrame});
    complete_all(pools, qs);
  }
  state.counters["ns_per_recipient"] = benchmark::Counter(
      double(state.iterations()) * double(n) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_FanoutCopy)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Enqueue only (the queues keep growing within an iteration batch of 64 frames, then drain).
void BM_EnqueueSharedOnly(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  OutPools pools;
  std::vector<OutQueue> qs(n);
  Block* b = Block::create(kFrame);
  b->grow(kFrame);
  for (auto _ : state) {
    for (OutQueue& q : qs) q.append_shared(pools, b, 0, kFrame);
    state.PauseTiming();
    complete_all(pools, qs);
    state.ResumeTiming();
  }
  b->unref();
  state.counters["ns_per_recipient"] = benchmark::Counter(
      double(state.iterations()) * double(n) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EnqueueSharedOnly)->Arg(10000)->Unit(benchmark::kMicrosecond);

constexpr uint64_t kRecords = 1 << 20;

void BM_MailRingTwoThreads(benchmark::State& state) {
  for (auto _ : state) {
    MailRing ring(size_t(state.range(0)));
    std::thread producer([&] {
      for (uint64_t i = 0; i < kRecords; ++i)
        while (!ring.push(Mail{1, 0, i})) {
        }
    });
    uint64_t next = 0, sum = 0;
    Mail m;
    while (next < kRecords)
      if (ring.pop(m)) {
        sum += m.b;
        ++next;
      }
    producer.join();
    benchmark::DoNotOptimize(sum);
  }
  state.counters["records_per_s"] = benchmark::Counter(
      double(state.iterations()) * double(kRecords), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MailRingTwoThreads)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MutexFunctionMailboxTwoThreads(benchmark::State& state) {
  for (auto _ : state) {
    std::mutex mu;
    std::vector<std::function<void()>> box;
    std::atomic<uint64_t> sum{0};
    std::thread producer([&] {
      for (uint64_t i = 0; i < kRecords; ++i) {
        std::lock_guard<std::mutex> lock(mu);
        box.push_back([i, &sum] { sum.fetch_add(i, std::memory_order_relaxed); });
      }
    });
    uint64_t done = 0;
    std::vector<std::function<void()>> taken;
    while (done < kRecords) {
      {
        std::lock_guard<std::mutex> lock(mu);
        taken.swap(box);
      }
      for (auto& fn : taken) fn();
      done += taken.size();
      taken.clear();
    }
    producer.join();
  }
  state.counters["records_per_s"] = benchmark::Counter(
      double(state.iterations()) * double(kRecords), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MutexFunctionMailboxTwoThreads)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
