#pragma once
// Per-address limits on the pre-auth path. Each instance belongs to one worker thread: no locks.
// Addresses are 16 bytes (IPv6, IPv4 as IPv4-mapped), as io::PeerAddress stores them.
#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace ringway::auth {

using AddressBytes = std::array<uint8_t, 16>;

// The key to limit on: IPv4-mapped addresses as they are, IPv6 truncated to its /64, because
// one IPv6 host usually owns a whole /64 and could otherwise rotate through it for free.
AddressBytes limiter_key(const AddressBytes& addr);

// Hash keyed with a random per-instance secret (SipHash-2-4): addresses come from the network,
// so a predictable hash would let a client pile its addresses into one bucket.
class AddressHash {
 public:
  AddressHash();
  size_t operator()(const AddressBytes& a) const;

 private:
  uint64_t key_[2];
};

// Fixed-window count of auth failures per address: after max_failures failures within
// window_ms of the first one, the address is blocked until that window ends.
//
// Memory is bounded: at most max_tracked addresses are remembered. Entries whose window has
// ended are dropped lazily (oldest first); when the table is full of live windows, recording a
// failure for a new address evicts the address whose window started first. So under a flood of
// more distinct addresses than max_tracked within one window, the oldest are forgotten early and
// may fail again sooner than the window allows — memory never grows past max_tracked entries.
class FailureLimiter {
 public:
  // Zero arguments are raised to 1 so the limiter is always well-defined.
  FailureLimiter(uint32_t max_failures, uint64_t window_ms, size_t max_tracked);

  // True if addr has used up its failures in the current window; then retry_after_ms (>= 1) is
  // the time until the window ends.
  bool blocked(const AddressBytes& addr, uint64_t now_ms, uint64_t& retry_after_ms);
  void record_failure(const AddressBytes& addr, uint64_t now_ms);
  size_t tracked() const { return index_.size(); }
  size_t max_tracked() const { return max_tracked_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Node {
    AddressBytes addr;
    uint64_t window_start;
    uint32_t failures;
    uint32_t prev, next;  // list ordered by window_start, oldest at head_
  };
  // A clock that stepped back never ends a window early.
  bool expired(const Node& n, uint64_t now_ms) const {
    return now_ms >= n.window_start && now_ms - n.window_start >= window_ms_;
  }
  void unlink(uint32_t i);
  void push_back(uint32_t i);
  void remove(uint32_t i);

  uint32_t max_failures_;
  uint64_t window_ms_;
  size_t max_tracked_;
  std::vector<Node> nodes_;   // grows to at most max_tracked; freed slots are reused
  std::vector<uint32_t> free_;
  std::unordered_map<AddressBytes, uint32_t, AddressHash> index_;
  uint32_t head_ = kNone, tail_ = kNone;
};

// Counts live unauthenticated connections per address, for the per-address cap. An entry exists
// only while its count is above zero, so memory follows the number of such connections.
class AddressCounter {
 public:
  // Increments and returns true if addr has fewer than `limit` connections; else false.
  bool try_acquire(const AddressBytes& addr, uint32_t limit);
  // Pairs with a successful try_acquire; an address not held is ignored.
  void release(const AddressBytes& addr);
  uint32_t count(const AddressBytes& addr) const;
  size_t tracked() const { return counts_.size(); }

 private:
  std::unordered_map<AddressBytes, uint32_t, AddressHash> counts_;
};

}  // namespace ringway::auth
