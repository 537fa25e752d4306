#include "io/out_queue.h"

#include <cstring>
#include <new>

namespace ringway::io {

namespace {

template <class T>
T* take(std::vector<T*>& spares, size_t& out) {
  T* t;
  if (!spares.empty()) {
    t = spares.back();
    spares.pop_back();
  } else {
    t = static_cast<T*>(::operator new(sizeof(T), std::nothrow));
    if (!t) return nullptr;
  }
  ++out;
  return t;
}

template <class T>
void give(std::vector<T*>& spares, size_t& out, size_t max_spares, T* t) {
  --out;
  if (spares.size() < max_spares) {
    spares.push_back(t);  // capacity was reserved on the first take, see below
  } else {
    ::operator delete(t);
  }
}

}  // namespace

OutPools::~OutPools() {
  for (auto* s : segments_) ::operator delete(s);
  for (auto* l : lanes_) ::operator delete(l);
  for (auto* b : batches_) ::operator delete(b);
}

Segment* OutPools::segment() {
  if (segments_.capacity() == 0) segments_.reserve(kMaxSpareSegments);
  return take(segments_, segments_out_);
}
void OutPools::put(Segment* s) { give(segments_, segments_out_, kMaxSpareSegments, s); }

ControlLane* OutPools::lane() {
  if (lanes_.capacity() == 0) lanes_.reserve(kMaxSpareLanes);
  ControlLane* l = take(lanes_, lanes_out_);
  if (l) {
    l->pending_len[0] = l->pending_len[1] = 0;
    l->wire_len = 0;
  }
  return l;
}
void OutPools::put(ControlLane* l) { give(lanes_, lanes_out_, kMaxSpareLanes, l); }

SendBatch* OutPools::batch() {
  if (batches_.capacity() == 0) batches_.reserve(kMaxSpareBatches);
  return take(batches_, batches_out_);
}
void OutPools::put(SendBatch* b) { give(batches_, batches_out_, kMaxSpareBatches, b); }

// ---- queueing ----

Segment* OutQueue::new_segment(OutPools& p, Block* b, uint32_t off, uint32_t len, bool barrier) {
  Segment* s = p.segment();
  if (!s) return nullptr;
  *s = Segment{b, off, len, nullptr, barrier};
  if (tail_)
    tail_->next = s;
  else
    head_ = s;
  tail_ = s;
  queued_ += len;
  return s;
}

OutQueue::Result OutQueue::append(OutPools& p, std::span<const uint8_t> a,
                                  std::span<const uint8_t> b, bool barrier) {
  if (closed_) return Result::kClosed;
  size_t n = a.size() + b.size();
  if (n == 0) return Result::kQueued;
  if (n > kMaxQueuedBytes - queued_) return Result::kNoMemory;
  Segment* t = tail_;
  // Append in place when the tail is ours alone and ends where its block's bytes end. Bytes of
  // that block already covered by the send in flight are not touched: only room past them is.
  if (!t || t->barrier != barrier || !t->block->exclusive() ||
      t->off + t->len != t->block->size() || t->block->room() < n) {
    Block* blk = Block::create(n < kMinOwnedBlock ? kMinOwnedBlock : n);
    if (!blk) return Result::kNoMemory;
    t = new_segment(p, blk, 0, 0, barrier);
    if (!t) {
      blk->unref();
      return Result::kNoMemory;
    }
  }
  uint8_t* dst = t->block->data() + t->block->size();
  if (!a.empty()) std::memcpy(dst, a.data(), a.size());
  if (!b.empty()) std::memcpy(dst + a.size(), b.data(), b.size());
  t->block->grow(uint32_t(n));
  t->len += uint32_t(n);
  queued_ += uint32_t(n);
  return Result::kQueued;
}

OutQueue::Result OutQueue::append_shared(OutPools& p, Block* block, uint32_t off, uint32_t len) {
  if (closed_) return Result::kClosed;
  if (len == 0) return Result::kQueued;
  if (len > kMaxQueuedBytes - queued_) return Result::kNoMemory;
  if (!new_segment(p, block, off, len, false)) return Result::kNoMemory;
  block->ref();
  return Result::kQueued;
}

OutQueue::Result OutQueue::set_control(OutPools& p, ControlKind kind,
                                       std::span<const uint8_t> frame) {
  if (closed_) return Result::kClosed;
  if (frame.size() > kMaxControlFrame || frame.empty()) return Result::kNoMemory;
  if (!ctrl_) {
    ctrl_ = p.lane();
    if (!ctrl_) return Result::kNoMemory;
  }
  auto k = size_t(kind);
  std::memcpy(ctrl_->pending[k], frame.data(), frame.size());
  ctrl_->pending_len[k] = uint8_t(frame.size());
  return Result::kQueued;
}

OutQueue::Result OutQueue::append_final(OutPools& p, std::span<const uint8_t> frame) {
  Result r = append(p, frame);
  if (r == Result::kQueued) closed_ = true;
  return r;
}

bool OutQueue::has_control() const {
  return ctrl_ && (ctrl_->pending_len[0] || ctrl_->pending_len[1] || ctrl_->wire_len);
}

bool OutQueue::has_unsent() const {
  return queued_ > seg_bytes_ || (ctrl_ && (ctrl_->pending_len[0] || ctrl_->pending_len[1]));
}

void OutQueue::pop_head(OutPools& p) {
  Segment* s = head_;
  head_ = s->next;
  if (!head_) tail_ = nullptr;
  queued_ -= s->len;
  s->block->unref();
  p.put(s);
}

void OutQueue::maybe_free_lane(OutPools& p) {
  if (ctrl_ && !ctrl_->wire_len && !ctrl_->pending_len[0] && !ctrl_->pending_len[1]) {
    p.put(ctrl_);
    ctrl_ = nullptr;
  }
}

void OutQueue::drop_unsent(OutPools& p) {
  // Keep the prefix the send in flight covers; the kernel may still be reading it.
  uint32_t keep = seg_bytes_;
  Segment* s = head_;
  Segment* last_kept = nullptr;
  while (s && keep) {
    if (s->len > keep) {
      queued_ -= s->len - keep;
      s->len = keep;
    }
    keep -= s->len;
    last_kept = s;
    s = s->next;
  }
  while (s) {
    Segment* next = s->next;
    queued_ -= s->len;
    s->block->unref();
    p.put(s);
    s = next;
  }
  if (last_kept) {
    last_kept->next = nullptr;
    tail_ = last_kept;
  } else {
    head_ = tail_ = nullptr;
  }
  if (ctrl_) ctrl_->pending_len[0] = ctrl_->pending_len[1] = 0;
  maybe_free_lane(p);
}

void OutQueue::release(OutPools& p) {
  while (head_) pop_head(p);
  if (ctrl_) {
    p.put(ctrl_);
    ctrl_ = nullptr;
  }
  if (batch_) {
    p.put(batch_);
    batch_ = nullptr;
  }
  inflight_ = done_ = seg_bytes_ = 0;
}

// ---- sending ----

size_t OutQueue::prepare(OutPools& p) {
  if (in_flight()) return 0;
  // Lay the send out first, without side effects: leading barrier segments, the control lane,
  // then the other segments.
  iovec v[kMaxSendIovecs];
  size_t n = 0, ctrl_at = kMaxSendIovecs;
  Segment* s = head_;
  while (s && s->barrier && n < kMaxSendIovecs) {
    v[n++] = {s->block->data() + s->off, s->len};
    s = s->next;
  }
  bool control = ctrl_ && (ctrl_->pending_len[0] || ctrl_->pending_len[1]);
  if (control && n < kMaxSendIovecs) {
    ctrl_at = n;
    v[n++] = {ctrl_->wire, size_t(ctrl_->pending_len[0]) + ctrl_->pending_len[1]};
  }
  while (s && n < kMaxSendIovecs) {
    v[n++] = {s->block->data() + s->off, s->len};
    s = s->next;
  }
  if (n == 0) return 0;
  if (n > 1) {
    batch_ = p.batch();
    if (!batch_) n = 1;  // no memory for an iovec array: send the first piece alone
  }
  uint32_t total = 0;
  for (size_t i = 0; i < n; ++i) total += uint32_t(v[i].iov_len);
  uint32_t ctrl_bytes = 0;
  if (ctrl_at < n) {  // the pending control frames become the wire of this send
    uint16_t w = 0;
    for (size_t k = 0; k < kControlKinds; ++k) {
      std::memcpy(ctrl_->wire + w, ctrl_->pending[k], ctrl_->pending_len[k]);
      w = uint16_t(w + ctrl_->pending_len[k]);
      ctrl_->pending_len[k] = 0;
    }
    ctrl_->wire_len = w;
    ctrl_bytes = w;
  }
  if (batch_) {
    std::memcpy(batch_->iov, v, n * sizeof(iovec));
    batch_->first = 0;
    batch_->count = uint8_t(n);
    batch_->hdr = msghdr{};
    batch_->hdr.msg_iov = batch_->iov;
    batch_->hdr.msg_iovlen = n;
  }
  inflight_ = total;
  seg_bytes_ = total - ctrl_bytes;
  single_is_control_ = !batch_ && ctrl_bytes != 0;
  done_ = 0;
  return n;
}

size_t OutQueue::iov_count() const {
  if (!in_flight()) return 0;
  return batch_ ? size_t(batch_->count - batch_->first) : 1;
}

iovec OutQueue::iov() const {
  if (batch_) return batch_->iov[batch_->first];
  if (single_is_control_) return {ctrl_->wire + done_, size_t(inflight_ - done_)};
  return {head_->block->data() + head_->off + done_, size_t(inflight_ - done_)};
}

bool OutQueue::on_sent(OutPools& p, size_t n) {
  done_ += uint32_t(n);
  if (done_ < inflight_) {
    if (batch_) {  // skip what was taken; the first unfinished iovec starts later
      size_t left = n;
      while (left) {
        iovec& v = batch_->iov[batch_->first];
        if (v.iov_len <= left) {
          left -= v.iov_len;
          ++batch_->first;
        } else {
          v.iov_base = static_cast<uint8_t*>(v.iov_base) + left;
          v.iov_len -= left;
          left = 0;
        }
      }
      batch_->hdr.msg_iov = batch_->iov + batch_->first;
      batch_->hdr.msg_iovlen = size_t(batch_->count - batch_->first);
    }
    return false;
  }
  // Complete: release the segment bytes it covered (a prefix of the list, possibly ending inside
  // a tail segment that grew after prepare()).
  uint32_t left = seg_bytes_;
  while (left) {
    Segment* s = head_;
    if (s->len <= left) {
      left -= s->len;
      pop_head(p);
    } else {
      s->off += left;
      s->len -= left;
      queued_ -= left;
      left = 0;
    }
  }
  if (ctrl_ && inflight_ != seg_bytes_) ctrl_->wire_len = 0;
  maybe_free_lane(p);
  if (batch_) {
    p.put(batch_);
    batch_ = nullptr;
  }
  inflight_ = done_ = seg_bytes_ = 0;
  single_is_control_ = false;
  return true;
}

}  // namespace ringway::io
