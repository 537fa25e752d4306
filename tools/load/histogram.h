#pragma once
// Log-linear (HDR-style) histogram of non-negative integers, used for latencies in nanoseconds.
// Values below 2 * kSub are counted exactly; above, every power of two is cut into kSub equal
// buckets, so a bucket is at most 1/kSub of its lower bound wide and the reported midpoint is
// within kMaxRelativeError of any value in it. Memory is fixed (kBuckets counters, ~38 KiB);
// histograms merge by adding counters, so each thread keeps its own and they are summed at the
// end.
#include <array>
#include <cstddef>
#include <cstdint>

namespace ringway::load {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // buckets per power of two
  // Values at or above 2^kMaxBits (about 4.9 hours in ns) land in the last bucket; max() stays
  // exact.
  static constexpr unsigned kMaxBits = 44;
  static constexpr uint64_t kMaxTrackable = (uint64_t{1} << kMaxBits) - 1;
  static constexpr size_t kBuckets = size_t(kMaxBits - kSubBits + 1) * kSub;
  // Half a bucket's width relative to its lower bound: 1 / (2 * kSub) = 0.39%.
  static constexpr double kMaxRelativeError = 1.0 / double(2 * kSub);

  void record(uint64_t value) { record_n(value, 1); }
  void record_n(uint64_t value, uint64_t n);
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }

  // Nearest-rank percentile (q in [0, 100]): the value of the ceil(q/100 * count)-th smallest
  // sample, reported as its bucket's midpoint clamped to [min, max]. 0 when empty.
  uint64_t percentile(double q) const;

  static size_t index_of(uint64_t value);
  static uint64_t bucket_low(size_t index);
  static uint64_t bucket_width(size_t index);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = ~uint64_t{0};
  uint64_t max_ = 0;
};

}  // namespace ringway::load
