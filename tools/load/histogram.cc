#include "load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ringway::load {

size_t Histogram::index_of(uint64_t value) {
  uint64_t v = std::min(value, kMaxTrackable);
  if (v < 2 * kSub) return size_t(v);
  unsigned msb = 63u - unsigned(std::countl_zero(v));
  unsigned shift = msb - kSubBits;  // >= 1
  return size_t(shift + 1) * kSub + size_t((v >> shift) - kSub);
}

uint64_t Histogram::bucket_low(size_t index) {
  if (index < 2 * kSub) return index;
  unsigned shift = unsigned(index / kSub) - 1;
  return (kSub + index % kSub) << shift;
}

uint64_t Histogram::bucket_width(size_t index) {
  if (index < 2 * kSub) return 1;
  return uint64_t{1} << (unsigned(index / kSub) - 1);
}

void Histogram::record_n(uint64_t value, uint64_t n) {
  if (n == 0) return;
  counts_[index_of(value)] += n;
  count_ += n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() { *this = Histogram(); }

uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 100.0);
  // The epsilon keeps 99.9% of 1000 at rank 999 despite binary rounding.
  auto rank = uint64_t(std::ceil(q * double(count_) / 100.0 - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  if (rank == count_) return max_;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace ringway::load
