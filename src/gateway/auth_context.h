#pragma once
// What every worker's gateway shares for the gateway route: the verifier pool (which holds the
// current registry and tokens) and the per-address abuse limits. Touched once per connect, never
// per frame, so a mutex is cheap enough here.
#include <cstdint>
#include <mutex>

#include "auth/rate_limiter.h"
#include "auth/verifier_pool.h"

namespace ringway::gateway {

struct AuthLimits {
  uint32_t max_unauthenticated_per_address = 256;
  uint32_t auth_failures_per_window = 20;
  uint64_t auth_failure_window_ms = 60000;
  size_t max_tracked_addresses = 65536;
};

class AuthContext {
 public:
  AuthContext(auth::VerifierPool& pool, const AuthLimits& limits)
      : pool_(pool), limits_(limits),
        failures_(limits.auth_failures_per_window, limits.auth_failure_window_ms,
                  limits.max_tracked_addresses) {}

  auth::VerifierPool& pool() { return pool_; }

  bool acquire_unauthenticated(const auth::AddressBytes& a) {
    std::lock_guard<std::mutex> lock(mu_);
    return unauthenticated_.try_acquire(a, limits_.max_unauthenticated_per_address);
  }
  void release_unauthenticated(const auth::AddressBytes& a) {
    std::lock_guard<std::mutex> lock(mu_);
    unauthenticated_.release(a);
  }
  bool failures_blocked(const auth::AddressBytes& a, uint64_t now_ms, uint64_t& retry_after_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_.blocked(a, now_ms, retry_after_ms);
  }
  void record_failure(const auth::AddressBytes& a, uint64_t now_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.record_failure(a, now_ms);
  }

 private:
  auth::VerifierPool& pool_;
  AuthLimits limits_;
  std::mutex mu_;
  auth::AddressCounter unauthenticated_;
  auth::FailureLimiter failures_;
};

}  // namespace ringway::gateway
