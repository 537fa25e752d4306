#pragma once
// Per-address connection caps, shared by every worker (one address's connections land on any
// worker, so a per-worker count would let it hold workers × the cap). Each kind has its own lock
// and is touched once when a connection enters or leaves that state, never per frame. Addresses
// are counted as auth::limiter_key makes them: IPv4 per address, IPv6 per /64.
#include <cstdint>
#include <mutex>

#include "auth/rate_limiter.h"

namespace ringway::gateway {

enum class CapKind : uint8_t {
  kHttp,             // accepted, request head not yet answered (handshake deadline)
  kEcho,             // open /echo WebSockets
  kUnauthenticated,  // gateway-route WebSockets that have not finished auth
};
inline constexpr unsigned kCapKinds = 3;

struct AddressCapLimits {
  uint32_t http = 256;
  uint32_t echo = 16384;
  uint32_t unauthenticated = 256;
};

class AddressCaps {
 public:
  explicit AddressCaps(const AddressCapLimits& limits)
      : limits_{limits.http, limits.echo, limits.unauthenticated} {}

  // Counts one more connection of `kind` from addr; false (nothing counted) when at the cap.
  bool acquire(CapKind kind, const auth::AddressBytes& addr) {
    Counter& c = counters_[unsigned(kind)];
    std::lock_guard<std::mutex> lock(c.mu);
    return c.counts.try_acquire(auth::limiter_key(addr), limits_[unsigned(kind)]);
  }
  void release(CapKind kind, const auth::AddressBytes& addr) {
    Counter& c = counters_[unsigned(kind)];
    std::lock_guard<std::mutex> lock(c.mu);
    c.counts.release(auth::limiter_key(addr));
  }
  uint32_t count(CapKind kind, const auth::AddressBytes& addr) {
    Counter& c = counters_[unsigned(kind)];
    std::lock_guard<std::mutex> lock(c.mu);
    return c.counts.count(auth::limiter_key(addr));
  }
  uint32_t limit(CapKind kind) const { return limits_[unsigned(kind)]; }

 private:
  struct Counter {
    std::mutex mu;
    auth::AddressCounter counts;
  };
  uint32_t limits_[kCapKinds];
  Counter counters_[kCapKinds];
};

}  // namespace ringway::gateway
