#pragma once
// Counters and gauges that one thread writes and any thread may read (a metrics scrape runs on
// whichever worker took the request). The writer's increment is a relaxed load and store of its
// own value — on x86 a plain add, no locked instruction and no shared cache line with other
// writers — and a reader's relaxed load sees some recent value. That is all a counter needs, and
// it keeps "no shared atomics on the data path" while making cross-thread reads well-defined.
#include <atomic>
#include <cstdint>

namespace ringway {

class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Writer thread only.
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  Counter& operator++() {
    add(1);
    return *this;
  }
  Counter& operator+=(uint64_t n) {
    add(n);
    return *this;
  }
  // Gauges: the writer sets the current value.
  void set(uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  // Any thread.
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace ringway
