#include "timer/timer_wheel.h"

namespace ringway::timer {
namespace {

void make_empty(TimerNode& head) { head.next = head.prev = &head; }

bool is_empty(const TimerNode& head) { return head.next == &head; }

// Appends all of src to dst in O(1) and leaves src empty.
void splice_tail(TimerNode& dst, TimerNode& src) {
  if (is_empty(src)) return;
  TimerNode* first = src.next;
  TimerNode* last = src.prev;
  first->prev = dst.prev;
  dst.prev->next = first;
  last->next = &dst;
  dst.prev = last;
  make_empty(src);
}

}  // namespace

TimerWheel::TimerWheel(uint64_t now_ms) : now_(now_ms) {
  make_empty(due_);
  for (TimerNode& head : batch_) make_empty(head);
  for (TimerNode& head : heads_) make_empty(head);
}

void TimerWheel::collect(uint64_t target) {
  splice_tail(batch_[0], due_);
  if (target <= now_) return;
  for (;;) {
    // Every slot of a lower level starts before any slot of a higher one (a lower level only
    // spans the rest of the current higher-level slot), so the lowest non-empty level holds the
    // next event.
    unsigned level = 0;
    while (level < kLevels && masks_[level] == 0) ++level;
    if (level == kLevels) break;
    unsigned slot = static_cast<unsigned>(std::countr_zero(masks_[level]));
    uint64_t start = block_base(now_, level) | (uint64_t{slot} << (level * kSlotBits));
    // Nothing starts in (now_, target]: jumping straight there keeps every node's placement
    // valid, which is what makes an idle stretch cost O(kLevels) rather than O(ticks).
    if (start > target) break;

    now_ = start;
    masks_[level] &= ~(uint64_t{1} << slot);
    size_t index = size_t{level} * kSlots + slot;
    if (level == 0) {
      // Every node in a level-0 slot expires exactly at `start`.
      for (unsigned k = 0; k < kLanes; ++k) splice_tail(batch_[k], heads_[index * kLanes + k]);
      continue;
    }
    // Cascade before any node in the slot is due: its expiries lie in [start, start + 64^level).
    cascade(index, start);
  }
  now_ = target;
}

void TimerWheel::cascade(size_t slot, uint64_t start) {
  auto redistribute = [&](TimerNode* n) {
    if (n->expiry == start) {
      link_tail(batch_[lane_], *n);
      lane_ = (lane_ + 1) & (kLanes - 1);
    } else {
      place(*n);  // lands on a lower level, never back in this slot
    }
  };
  // Each lane is walked from both ends at once; all lanes advance in the same loop turn, so the
  // loads of up to 2 * kLanes unrelated nodes overlap. Order within a slot carries no meaning:
  // every node lands by its own expiry.
  struct Walk {
    TimerNode* front;
    TimerNode* back;
  };
  Walk walks[kLanes];
  unsigned active = 0;
  for (unsigned k = 0; k < kLanes; ++k) {
    TimerNode& head = heads_[slot * kLanes + k];
    if (is_empty(head)) continue;
    walks[active++] = {head.next, head.prev};
    make_empty(head);
  }
  while (active > 0) {
    for (unsigned k = 0; k < active;) {
      Walk& w = walks[k];
      bool done;
      if (w.front == w.back) {
        redistribute(w.front);
        done = true;
      } else {
        TimerNode* front_next = w.front->next;
        TimerNode* back_prev = w.back->prev;
        redistribute(w.front);
        redistribute(w.back);
        done = front_next == w.back;  // the two ends met
        w.front = front_next;
        w.back = back_prev;
      }
      if (done) {
        w = walks[--active];  // drop this walk; revisit index k
      } else {
        ++k;
      }
    }
  }
}

std::optional<uint64_t> TimerWheel::next_timeout() const {
  if (!is_empty(due_)) return 0;
  for (const TimerNode& head : batch_) {
    if (!is_empty(head)) return 0;  // asked from inside advance()'s callback
  }
  for (unsigned level = 0; level < kLevels; ++level) {
    if (masks_[level] == 0) continue;
    unsigned slot = static_cast<unsigned>(std::countr_zero(masks_[level]));
    uint64_t start = block_base(now_, level) | (uint64_t{slot} << (level * kSlotBits));
    if (level == 0) return start - now_;  // every node in a level-0 slot expires at its start
    // This slot holds the earliest expiry (every other slot starts after it ends). A short list
    // is scanned so a sparse wheel sleeps straight to the expiry; a long one answers with the
    // slot start, where advance() cascades, which is early but never late.
    uint64_t earliest = ~uint64_t{0};
    unsigned seen = 0;
    for (unsigned k = 0; k < kLanes; ++k) {
      const TimerNode& head = heads_[(size_t{level} * kSlots + slot) * kLanes + k];
      for (const TimerNode* n = head.next; n != &head; n = n->next) {
        if (++seen > kNextTimeoutScan) return start - now_;
        earliest = n->expiry < earliest ? n->expiry : earliest;
      }
    }
    return earliest - now_;
  }
  return std::nullopt;
}

bool TimerWheel::self_check() const {
  size_t count = 0;
  auto walk = [&count](const TimerNode& head, auto&& node_ok) {
    const TimerNode* p = &head;
    for (const TimerNode* n = head.next; n != &head; p = n, n = n->next) {
      if (n == nullptr || n->prev != p || !node_ok(*n)) return false;
      if (++count > (size_t{1} << 40)) return false;  // a cycle that skips the sentinel
    }
    return head.prev == p;
  };
  auto due = [this](const TimerNode& n) { return n.expiry <= now_; };
  if (!walk(due_, due)) return false;
  for (const TimerNode& head : batch_) {
    if (!walk(head, due)) return false;
  }
  for (unsigned level = 0; level < kLevels; ++level) {
    for (unsigned slot = 0; slot < kSlots; ++slot) {
      size_t index = size_t{level} * kSlots + slot;
      bool bit = (masks_[level] >> slot) & 1;
      if (bit == slot_empty(index)) return false;
      auto placed = [&](const TimerNode& n) {
        return n.expiry > now_ && level_of(n.expiry ^ now_) == level &&
               ((n.expiry >> (level * kSlotBits)) & (kSlots - 1)) == slot;
      };
      for (unsigned k = 0; k < kLanes; ++k) {
        if (!walk(heads_[index * kLanes + k], placed)) return false;
      }
    }
  }
  return count == size_;
}

}  // namespace ringway::timer
