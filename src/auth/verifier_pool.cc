#include "auth/verifier_pool.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>

#include <pthread.h>

#include "auth/verify.h"

namespace ringway::auth {

namespace {
uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}
uint64_t epoch_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}
uint64_t micros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}
}  // namespace

VerifierPool::VerifierPool(unsigned threads, size_t capacity, uint64_t max_wait_ms,
                           Deliver deliver)
    : capacity_(capacity), max_wait_ms_(max_wait_ms), deliver_(std::move(deliver)),
      thread_count_(std::max(1u, threads)) {
  identity_.store(std::make_shared<const Identity>());
  for (unsigned i = 0; i < thread_count_; ++i) {
    threads_.emplace_back([this, i] { run(i); });
    // Named so that per-thread CPU (/proc/PID/task/*/comm) can be told apart in benchmarks.
    pthread_setname_np(threads_.back().native_handle(), ("rw-verify-" + std::to_string(i)).c_str());
  }
}

VerifierPool::~VerifierPool() { stop(); }

void VerifierPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load() && threads_.empty()) return;
    stopping_.store(true);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

VerifierPool::Submit VerifierPool::submit(VerifyJob&& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool aged = !queue_.empty() && job.enqueued_ms > queue_.front().enqueued_ms + max_wait_ms_;
    if (stopping_.load(std::memory_order_relaxed) || queue_.size() >= capacity_ || aged) {
      shed_.fetch_add(1, std::memory_order_relaxed);
      return Submit::kShed;
    }
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return Submit::kQueued;
}

size_t VerifierPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

uint64_t VerifierPool::retry_after_ms() const {
  uint64_t backlog_ms = queued() * avg_job_us_.load(std::memory_order_relaxed) / 1000 / thread_count_;
  uint64_t base = std::clamp<uint64_t>(backlog_ms, 250, 30000);
  // Jitter spreads the retries of a shed crowd so they do not return as one wave.
  thread_local std::minstd_rand rng{std::random_device{}()};
  return base + rng() % (base / 2 + 1);
}

std::shared_ptr<const Identity> VerifierPool::set_identity(
    std::shared_ptr<const DeviceRegistry> devices, std::shared_ptr<const ServiceTokens> tokens) {
  std::lock_guard<std::mutex> lock(identity_mu_);
  auto id = std::make_shared<Identity>();
  id->devices = std::move(devices);
  id->tokens = std::move(tokens);
  id->generation = generation_.load(std::memory_order_relaxed) + 1;
  std::shared_ptr<const Identity> snapshot = id;
  // The snapshot first, then the number: a worker that sees the new number finds the snapshot.
  identity_.store(snapshot);
  generation_.store(snapshot->generation, std::memory_order_release);
  return snapshot;
}

VerifierPool::Stats VerifierPool::stats() const {
  return {verified_.load(), failed_.load(), shed_.load(), expired_.load()};
}

void VerifierPool::run(unsigned thread) {
  for (;;) {
    VerifyJob job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_.load() || !queue_.empty(); });
      if (stopping_.load()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    VerifyOutcome out;
    out.slot = job.slot;
    out.gen = job.gen;
    if (monotonic_ms() > job.deadline_ms) {
      // The worker has answered AUTH_TIMEOUT already; spend nothing on it.
      expired_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    uint64_t t0 = micros();
    auto id = identity_.load();
    out.verdict = verify_credentials(job.credentials, job.challenge_nonce, epoch_ms(),
                                     id->devices.get(), id->tokens.get());
    out.verdict.generation = id->generation;
    if (uint64_t d = extra_delay_us_.load(std::memory_order_relaxed))
      std::this_thread::sleep_for(std::chrono::microseconds(d));
    uint64_t took = micros() - t0;
    uint64_t avg = avg_job_us_.load(std::memory_order_relaxed);
    avg_job_us_.store((avg * 7 + took) / 8, std::memory_order_relaxed);
    (out.verdict.ok() ? verified_ : failed_).fetch_add(1, std::memory_order_relaxed);
    // A full mail ring means the worker is busy; wait for room rather than lose the verdict
    // (the worker's auth deadline still bounds what its client sees).
    while (!deliver_(thread, job.worker, out)) {
      if (stopping_.load(std::memory_order_relaxed)) return;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

}  // namespace ringway::auth
