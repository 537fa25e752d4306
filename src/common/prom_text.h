#pragma once
// Writing the Prometheus text exposition format (version 0.0.4): a # HELP and # TYPE line per
// family, then its samples. Labels are given pre-rendered (`code="1000"`); values are integers
// or, for histogram sums, seconds. The gateway's counters are per worker and summed by the
// caller; this only formats.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/latency_histogram.h"

namespace ringway::prom {

// "counter", "gauge" or "histogram".
void family(std::string& out, std::string_view name, std::string_view type,
            std::string_view help);
void sample(std::string& out, std::string_view name, std::string_view labels, uint64_t value);
// A histogram in seconds from a sum of per-worker histograms (cumulative buckets, +Inf, _sum,
// _count).
void histogram_seconds(std::string& out, std::string_view name, std::string_view labels,
                       const uint64_t* buckets, uint64_t sum_us, uint64_t count);

}  // namespace ringway::prom
