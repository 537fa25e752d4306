#pragma once
// Verifier threads: Ed25519, registry and token checks run here, never on a ring. Jobs come
// from the workers through a bounded queue; each verdict goes back to the worker that owns the
// connection, named by slot and generation so a verdict for a connection that has since closed
// is recognised and dropped there.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/credentials.h"
#include "auth/identity.h"

namespace ringway::auth {

struct VerifyJob {
  uint32_t worker = 0, slot = 0, gen = 0;
  uint64_t enqueued_ms = 0;  // monotonic
  uint64_t deadline_ms = 0;  // monotonic: past this the worker has already answered AUTH_TIMEOUT
  Credentials credentials;
  std::string challenge_nonce;
};

struct VerifyOutcome {
  uint32_t slot = 0, gen = 0;
  Verdict verdict;
};

class VerifierPool {
 public:
  // Hands a verdict to its worker from verifier thread `thread`; false when that worker's mail
  // ring is full (the pool then retries a moment later: a verdict is never dropped).
  using Deliver = std::function<bool(unsigned thread, uint32_t worker, VerifyOutcome& out)>;
  enum class Submit { kQueued, kShed };

  // capacity bounds the queue; max_wait_ms sheds new work while the oldest queued job has
  // already waited that long (its successors would only age into timeouts).
  VerifierPool(unsigned threads, size_t capacity, uint64_t max_wait_ms, Deliver deliver);
  ~VerifierPool();
  VerifierPool(const VerifierPool&) = delete;
  VerifierPool& operator=(const VerifierPool&) = delete;

  Submit submit(VerifyJob&& job);
  // Installs a new registry and token set together as the next generation; returns it.
  std::shared_ptr<const Identity> set_identity(std::shared_ptr<const DeviceRegistry> devices,
                                               std::shared_ptr<const ServiceTokens> tokens);
  std::shared_ptr<const Identity> identity() const { return identity_.load(); }
  // The current generation, cheap to read on a worker (no shared_ptr copy).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  unsigned threads() const { return thread_count_; }
  size_t queued() const;
  // Test knob: every verification also takes this long, as if the registry were remote or the
  // host busy. Lets tests build a real backlog with few clients.
  void set_extra_delay_us(uint64_t us) { extra_delay_us_.store(us); }
  // A retry delay for shed clients: roughly how long the backlog takes to clear, jittered.
  uint64_t retry_after_ms() const;
  void stop();

  struct Stats {
    uint64_t verified = 0, failed = 0, shed = 0, expired = 0;
  };
  Stats stats() const;

 private:
  void run(unsigned thread);

  const size_t capacity_;
  const uint64_t max_wait_ms_;
  Deliver deliver_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<VerifyJob> queue_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
  std::atomic<std::shared_ptr<const Identity>> identity_;
  std::atomic<uint64_t> generation_{0};
  std::mutex identity_mu_;  // serialises set_identity (the generation and the swap go together)
  std::atomic<uint64_t> verified_{0}, failed_{0}, shed_{0}, expired_{0};
  std::atomic<uint64_t> avg_job_us_{50};
  std::atomic<uint64_t> extra_delay_us_{0};  // smoothed cost of one verification
  unsigned thread_count_;
};

}  // namespace ringway::auth
