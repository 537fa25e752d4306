#include "load/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace ringway::load {
namespace {

// The nearest-rank percentile of sorted data, as the histogram defines it.
uint64_t exact_percentile(const std::vector<uint64_t>& sorted, double q) {
  auto rank = uint64_t(std::ceil(q * double(sorted.size()) / 100.0 - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void expect_within_bound(const Histogram& h, const std::vector<uint64_t>& sorted) {
  for (double q : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    uint64_t want = exact_percentile(sorted, q);
    uint64_t got = h.percentile(q);
    double err = std::fabs(double(got) - double(want));
    EXPECT_LE(err, double(want) * Histogram::kMaxRelativeError)
        << "q=" << q << " exact=" << want << " histogram=" << got;
  }
}

TEST(Histogram, BoundIsUnderOnePercent) {
  EXPECT_LE(Histogram::kMaxRelativeError, 0.01);
  EXPECT_LE(sizeof(Histogram), 40u * 1024);  // fixed memory
}

TEST(Histogram, SmallValuesAreExact) {
  for (uint64_t v = 0; v < 2 * Histogram::kSub; ++v) {
    EXPECT_EQ(Histogram::index_of(v), v);
    EXPECT_EQ(Histogram::bucket_low(v), v);
    EXPECT_EQ(Histogram::bucket_width(v), 1u);
  }
}

TEST(Histogram, BucketsTileTheRangeWithBoundedWidth) {
  // Consecutive buckets touch, and every bucket is at most 1/kSub of its lower bound wide.
  for (size_t i = 1; i < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::bucket_low(i),
              Histogram::bucket_low(i - 1) + Histogram::bucket_width(i - 1))
        << i;
    if (i >= 2 * Histogram::kSub) {
      ASSERT_LE(Histogram::bucket_width(i) * Histogram::kSub, Histogram::bucket_low(i)) << i;
    }
  }
  EXPECT_EQ(Histogram::index_of(Histogram::kMaxTrackable), Histogram::kBuckets - 1);
  EXPECT_EQ(Histogram::index_of(~uint64_t{0}), Histogram::kBuckets - 1);
}

TEST(Histogram, EveryValueLandsInTheBucketThatHoldsIt) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    if (v > Histogram::kMaxTrackable) continue;
    size_t k = Histogram::index_of(v);
    ASSERT_LE(Histogram::bucket_low(k), v);
    ASSERT_LT(v, Histogram::bucket_low(k) + Histogram::bucket_width(k));
  }
}

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, PercentilesOfRandomDataAreWithinTheBound) {
  // Latency-like data: log-uniform from 100 ns to 10 s, plus a dense cluster.
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> expo(std::log(100.0), std::log(1e10));
  std::normal_distribution<double> cluster(25000.0, 3000.0);
  std::vector<uint64_t> data;
  Histogram h;
  for (int i = 0; i < 300000; ++i) {
    uint64_t v = i % 3 == 0 ? uint64_t(std::max(1.0, cluster(rng))) : uint64_t(std::exp(expo(rng)));
    data.push_back(v);
    h.record(v);
  }
  std::sort(data.begin(), data.end());
  EXPECT_EQ(h.count(), data.size());
  EXPECT_EQ(h.min(), data.front());
  EXPECT_EQ(h.max(), data.back());
  EXPECT_EQ(h.percentile(100), data.back());
  expect_within_bound(h, data);
}

TEST(Histogram, FewSamplesUseNearestRank) {
  Histogram h;
  for (uint64_t v : {10u, 20u, 30u, 40u, 1000u}) h.record(v);
  EXPECT_EQ(h.percentile(50), 30u);
  EXPECT_EQ(h.percentile(80), 40u);
  EXPECT_EQ(h.percentile(81), 1000u);
  EXPECT_EQ(h.percentile(0), 10u);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  Histogram a, b, all;
  std::vector<uint64_t> data;
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = 1 + rng() % 5'000'000;
    (i % 3 ? a : b).record(v);
    all.record(v);
    data.push_back(v);
  }
  Histogram merged;
  merged.merge(a);
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  for (double q : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(merged.percentile(q), all.percentile(q));
  std::sort(data.begin(), data.end());
  expect_within_bound(merged, data);
  // Merging an empty histogram changes nothing.
  Histogram empty;
  merged.merge(empty);
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.count(), all.count());
}

TEST(Histogram, HugeValuesClampButMaxStaysExact) {
  Histogram h;
  h.record(~uint64_t{0} / 3);
  h.record(5);
  EXPECT_EQ(h.max(), ~uint64_t{0} / 3);
  EXPECT_EQ(h.percentile(100), ~uint64_t{0} / 3);
  EXPECT_EQ(h.percentile(50), 5u);
}

TEST(Histogram, RecordNAndReset) {
  Histogram h;
  h.record_n(1000, 99);
  h.record_n(2000, 1);
  h.record_n(3000, 0);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_NEAR(double(h.percentile(99)), 1000.0, 1000.0 * Histogram::kMaxRelativeError);
  EXPECT_EQ(h.percentile(99.5), 2000u);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(99), 0u);
}

}  // namespace
}  // namespace ringway::load
