#pragma once
// A latency histogram in fixed buckets, written by one thread and read by any (see counter.h),
// so each worker keeps its own and a scrape sums them. Bucket bounds follow Prometheus'
// cumulative `le` convention when exposed; here each bucket counts only its own range.
#include <array>
#include <cstddef>
#include <cstdint>

#include "common/counter.h"

namespace ringway {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds, 50 µs to 10 s; one more bucket holds everything above.
  static constexpr std::array<uint64_t, 16> kBoundsUs = {
      50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
      1000000, 2500000, 10000000};
  static constexpr size_t kBuckets = kBoundsUs.size() + 1;

  // Writer thread only: `weight` observations of `us` microseconds.
  void observe(uint64_t us, uint64_t weight = 1) {
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    buckets_[i] += weight;
    sum_us_ += us * weight;
    count_ += weight;
  }
  uint64_t bucket(size_t i) const { return buckets_[i].get(); }
  uint64_t sum_us() const { return sum_us_.get(); }
  uint64_t count() const { return count_.get(); }

 private:
  std::array<Counter, kBuckets> buckets_;
  Counter sum_us_, count_;
};

}  // namespace ringway
