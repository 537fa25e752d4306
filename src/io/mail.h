#pragma once
// Mail between threads: bounded single-producer/single-consumer rings of small fixed-size
// records, one ring per (producer, worker) pair, so no record is ever locked or allocated on the
// way. Producers are the workers themselves and a few outside threads (verifiers, the main
// thread, later the bus). A record carries at most a pointer to something reference-counted or
// owned; what its kind means is the business of the layer above (the io layer only moves it).
//
// A full ring is backpressure the producer sees (send() returns false); nothing is dropped and
// nothing grows. Waking: a consumer announces that it is about to sleep; a producer that pushes
// after that wakes it once — with IORING_OP_MSG_RING from its own ring when it is a worker (the
// wake-up rides on the producer's next submit, so a turn's mail to one worker costs one
// message), else by writing the worker's eventfd.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ringway::io {

struct Mail {
  uint32_t kind = 0;  // defined by the layer above
  uint32_t a = 0;
  uint64_t b = 0;
  uint64_t c = 0;
  void* p = nullptr;
};
static_assert(sizeof(Mail) == 32);

class MailRing {
 public:
  explicit MailRing(size_t capacity);  // rounded up to a power of two
  MailRing(const MailRing&) = delete;
  MailRing& operator=(const MailRing&) = delete;

  // Producer side.
  bool push(const Mail& m) {
    uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ > mask_) return false;
    }
    slots_[t & mask_] = m;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  size_t free_space() {
    uint32_t t = tail_.load(std::memory_order_relaxed);
    head_cache_ = head_.load(std::memory_order_acquire);
    return size_t(mask_ + 1) - (t - head_cache_);
  }

  // Consumer side.
  bool pop(Mail& m) {
    uint32_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return false;
    }
    m = slots_[h & mask_];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  bool empty() const {
    return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_acquire);
  }
  size_t capacity() const { return size_t(mask_) + 1; }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};  // written by the consumer
  uint32_t tail_cache_ = 0;                    // consumer's copy of tail_
  alignas(64) std::atomic<uint32_t> tail_{0};  // written by the producer
  uint32_t head_cache_ = 0;                    // producer's copy of head_
  alignas(64) uint32_t mask_;
  std::unique_ptr<Mail[]> slots_;
};

// What a worker exposes to its producers: whether it is about to sleep, and how to wake it.
struct MailInbox {
  std::atomic<bool> sleeping{false};
  int wake_fd = -1;  // eventfd the worker always has a read pending on
  int ring_fd = -1;  // the worker's ring, for IORING_OP_MSG_RING (-1: eventfd only)
};

// Every ring between `producers` producers and `workers` consumers. Producers 0..workers-1 are
// the workers themselves; the rest are outside threads, each given one index by the caller.
// Lifetime: a worker's wake_fd and ring_fd are closed when the Worker is destroyed, and a
// producer may still be inside its wake-up write after the consumer took the record; so no
// Worker is destroyed until every producer thread (all workers, the verifiers, the bus) has
// stopped. The server joins them all first; tests do the same.
class MailHub {
 public:
  using Dispose = void (*)(const Mail&);
  // dispose is called at destruction for every record still in a ring (it may own memory).
  MailHub(unsigned workers, unsigned outside_producers, size_t ring_capacity, Dispose dispose);
  ~MailHub();
  MailHub(const MailHub&) = delete;
  MailHub& operator=(const MailHub&) = delete;

  unsigned workers() const { return workers_; }
  unsigned producers() const { return producers_; }
  MailRing& ring(unsigned producer, unsigned worker) {
    return *rings_[size_t(producer) * workers_ + worker];
  }
  MailInbox& inbox(unsigned worker) { return inboxes_[worker]; }

  // For outside threads: push and wake with the eventfd. False when the ring is full.
  bool send_from_outside(unsigned producer, unsigned worker, const Mail& m);
  // Producer side of the wake-up protocol: true when the worker was about to sleep and this
  // caller must wake it (exactly one caller gets true per sleep).
  bool claim_wake(unsigned worker) {
    MailInbox& in = inboxes_[worker];
    // Orders the push before this load (the worker orders its store before its last look).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return in.sleeping.load(std::memory_order_relaxed) &&
           in.sleeping.exchange(false, std::memory_order_seq_cst);
  }
  void wake_by_eventfd(unsigned worker);
  // Whether any ring into `worker` holds mail (the worker's last look before sleeping).
  bool has_mail(unsigned worker);

  // Wake-up with IORING_OP_MSG_RING can be turned off (tests, kernels without it).
  bool msg_ring_enabled() const { return msg_ring_.load(std::memory_order_relaxed); }
  void disable_msg_ring() { msg_ring_.store(false, std::memory_order_relaxed); }

 private:
  unsigned workers_, producers_;
  std::vector<std::unique_ptr<MailRing>> rings_;
  std::unique_ptr<MailInbox[]> inboxes_;
  Dispose dispose_;
  std::atomic<bool> msg_ring_{true};
};

}  // namespace ringway::io
