#pragma once
// What every worker's gateway shares for the gateway route: the verifier pool (which holds the
// current identity snapshot) and the per-address failure limit. Touched once per connect, never
// per frame, so a mutex is cheap enough here.
#include <cstdint>
#include <mutex>

#include "auth/rate_limiter.h"
#include "auth/verifier_pool.h"

namespace ringway::gateway {

struct AuthLimits {
  uint32_t auth_failures_per_window = 20;
  uint64_t auth_failure_window_ms = 60000;
  size_t max_tracked_addresses = 65536;
};

class AuthContext {
 public:
  AuthContext(auth::VerifierPool& pool, const AuthLimits& limits)
      : pool_(pool),
        failures_(limits.auth_failures_per_window, limits.auth_failure_window_ms,
                  limits.max_tracked_addresses) {}

  auth::VerifierPool& pool() { return pool_; }

  bool failures_blocked(const auth::AddressBytes& a, uint64_t now_ms, uint64_t& retry_after_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_.blocked(auth::limiter_key(a), now_ms, retry_after_ms);
  }
  void record_failure(const auth::AddressBytes& a, uint64_t now_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.record_failure(auth::limiter_key(a), now_ms);
  }

 private:
  auth::VerifierPool& pool_;
  std::mutex mu_;
  auth::FailureLimiter failures_;
};

}  // namespace ringway::gateway
