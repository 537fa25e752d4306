#include "auth/rate_limiter.h"

#include <openssl/rand.h>
#include <openssl/siphash.h>

#include <algorithm>

namespace ringway::auth {

AddressBytes limiter_key(const AddressBytes& addr) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedPrefix, kMappedPrefix + 12, addr.begin())) return addr;
  AddressBytes key{};
  std::copy(addr.begin(), addr.begin() + 8, key.begin());
  return key;
}

AddressHash::AddressHash() { RAND_bytes(reinterpret_cast<uint8_t*>(key_), sizeof key_); }

size_t AddressHash::operator()(const AddressBytes& a) const {
  return static_cast<size_t>(SIPHASH_24(key_, a.data(), a.size()));
}

FailureLimiter::FailureLimiter(uint32_t max_failures, uint64_t window_ms, size_t max_tracked)
    : max_failures_(std::max<uint32_t>(1, max_failures)),
      window_ms_(std::max<uint64_t>(1, window_ms)),
      max_tracked_(std::clamp<size_t>(max_tracked, 1, kNone - 1)) {}

void FailureLimiter::unlink(uint32_t i) {
  Node& n = nodes_[i];
  (n.prev == kNone ? head_ : nodes_[n.prev].next) = n.next;
  (n.next == kNone ? tail_ : nodes_[n.next].prev) = n.prev;
}

void FailureLimiter::push_back(uint32_t i) {
  Node& n = nodes_[i];
  n.prev = tail_;
  n.next = kNone;
  (tail_ == kNone ? head_ : nodes_[tail_].next) = i;
  tail_ = i;
}

void FailureLimiter::remove(uint32_t i) {
  unlink(i);
  index_.erase(nodes_[i].addr);
  free_.push_back(i);
}

bool FailureLimiter::blocked(const AddressBytes& addr, uint64_t now_ms,
                             uint64_t& retry_after_ms) {
  const auto it = index_.find(addr);
  if (it == index_.end()) return false;
  const Node& n = nodes_[it->second];
  if (expired(n, now_ms)) {
    remove(it->second);
    return false;
  }
  if (n.failures < max_failures_) return false;
  retry_after_ms = std::max<uint64_t>(1, n.window_start + window_ms_ - now_ms);
  return true;
}

void FailureLimiter::record_failure(const AddressBytes& addr, uint64_t now_ms) {
  // Ended windows sit at the head; dropping them here keeps the table small at no extra cost.
  while (head_ != kNone && expired(nodes_[head_], now_ms)) remove(head_);

  if (const auto it = index_.find(addr); it != index_.end()) {
    Node& n = nodes_[it->second];
    if (expired(n, now_ms)) {  // only if the clock went backwards around the head
      n.window_start = now_ms;
      n.failures = 0;
      unlink(it->second);
      push_back(it->second);
    }
    if (n.failures < max_failures_) ++n.failures;  // saturate: blocked is blocked
    return;
  }

  if (index_.size() >= max_tracked_) remove(head_);  // full of live windows: forget the oldest
  uint32_t i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    i = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  nodes_[i].addr = addr;
  nodes_[i].window_start = now_ms;
  nodes_[i].failures = 1;
  push_back(i);
  index_.emplace(addr, i);
}

bool AddressCounter::try_acquire(const AddressBytes& addr, uint32_t limit) {
  if (limit == 0) return false;
  auto [it, added] = counts_.try_emplace(addr, 0);
  if (it->second >= limit) return false;
  ++it->second;
  return true;
}

void AddressCounter::release(const AddressBytes& addr) {
  const auto it = counts_.find(addr);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

uint32_t AddressCounter::count(const AddressBytes& addr) const {
  const auto it = counts_.find(addr);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace ringway::auth
