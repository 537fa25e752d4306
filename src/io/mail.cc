#include "io/mail.h"

#include <unistd.h>

#include <bit>

namespace ringway::io {

MailRing::MailRing(size_t capacity)
    : mask_(uint32_t(std::bit_ceil(capacity < 2 ? size_t(2) : capacity)) - 1),
      slots_(new Mail[size_t(mask_) + 1]) {}

MailHub::MailHub(unsigned workers, unsigned outside_producers, size_t ring_capacity,
                 Dispose dispose)
    : workers_(workers), producers_(workers + outside_producers),
      inboxes_(new MailInbox[workers]), dispose_(dispose) {
  rings_.reserve(size_t(producers_) * workers_);
  for (size_t i = 0; i < size_t(producers_) * workers_; ++i)
    rings_.push_back(std::make_unique<MailRing>(ring_capacity));
}

MailHub::~MailHub() {
  Mail m;
  for (auto& r : rings_)
    while (r->pop(m))
      if (dispose_) dispose_(m);
}

bool MailHub::send_from_outside(unsigned producer, unsigned worker, const Mail& m) {
  if (!ring(producer, worker).push(m)) return false;
  if (claim_wake(worker)) wake_by_eventfd(worker);
  return true;
}

void MailHub::wake_by_eventfd(unsigned worker) {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(inboxes_[worker].wake_fd, &one, sizeof one);
}

bool MailHub::has_mail(unsigned worker) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (unsigned p = 0; p < producers_; ++p)
    if (!ring(p, worker).empty()) return true;
  return false;
}

}  // namespace ringway::io
