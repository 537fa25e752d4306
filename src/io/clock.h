#pragma once
// Monotonic milliseconds for deadlines. Each worker reads it once per loop turn and caches it.
#include <cstdint>
#include <ctime>

namespace ringway::io {

inline uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

// Monotonic nanoseconds, for latencies measured across threads.
inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// Wall-clock Unix epoch milliseconds (protocol timestamps, not deadlines).
inline uint64_t epoch_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

}  // namespace ringway::io
