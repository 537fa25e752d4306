#include "gateway/channels.h"

#include <algorithm>

namespace ringway::gateway {

LocalChannel* LocalChannels::find(std::string_view name) {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : it->second.get();
}

void LocalChannels::add(std::string_view name, io::Conn* conn, std::vector<Subscription>& subs) {
  auto it = map_.find(name);
  if (it == map_.end()) {
    auto ch = std::make_unique<LocalChannel>();
    ch->name.assign(name);
    it = map_.emplace(ch->name, std::move(ch)).first;
  }
  LocalChannel* ch = it->second.get();
  subs.push_back({ch, uint32_t(ch->subscribers.size())});
  ch->subscribers.push_back({conn, uint32_t(subs.size() - 1)});
  ++subscriptions_;
}

SeqChannel* Sequencer::find(std::string_view name) {
  auto it = map_.find(name);
  return it == map_.end() ? nullptr : it->second.get();
}

SeqChannel& Sequencer::get(std::string_view name) {
  if (SeqChannel* ch = find(name)) return *ch;
  auto ch = std::make_unique<SeqChannel>();
  ch->name.assign(name);
  ch->incarnation = next_incarnation_++;
  SeqChannel& ref = *ch;
  map_.emplace(ref.name, std::move(ch));
  idle_push(ref);
  return ref;
}

void Sequencer::add(SeqChannel& ch, unsigned worker, int64_t delta) {
  auto it = std::find_if(ch.workers.begin(), ch.workers.end(),
                         [worker](const auto& p) { return p.first == worker; });
  int64_t now = (it == ch.workers.end() ? 0 : int64_t(it->second)) + delta;
  if (now < 0) now = 0;  // a decrement for a count already dropped (cannot happen; stay sane)
  int64_t change = now - (it == ch.workers.end() ? 0 : int64_t(it->second));
  if (it == ch.workers.end()) {
    if (now > 0) ch.workers.emplace_back(worker, uint32_t(now));
  } else if (now == 0) {
    *it = ch.workers.back();
    ch.workers.pop_back();
  } else {
    it->second = uint32_t(now);
  }
  bool was_idle = ch.total == 0;
  ch.total = uint32_t(int64_t(ch.total) + change);
  if (was_idle && ch.total > 0) idle_unlink(ch);
  if (!was_idle && ch.total == 0) idle_push(ch);
}

void Sequencer::touch(SeqChannel& ch) {
  if (!ch.idle || idle_tail_ == &ch) return;
  idle_unlink(ch);
  idle_push(ch);
}

std::string Sequencer::epoch(const SeqChannel& ch) const {
  return node_epoch_ + "-" + std::to_string(worker_) + "-" + std::to_string(ch.incarnation);
}

void Sequencer::idle_push(SeqChannel& ch) {
  ch.idle = true;
  ch.idle_prev = idle_tail_;
  ch.idle_next = nullptr;
  (idle_tail_ ? idle_tail_->idle_next : idle_head_) = &ch;
  idle_tail_ = &ch;
  ++idle_count_;
  while (idle_count_ > max_idle_ && idle_head_ != &ch) evict_oldest();
}

void Sequencer::idle_unlink(SeqChannel& ch) {
  if (!ch.idle) return;
  (ch.idle_prev ? ch.idle_prev->idle_next : idle_head_) = ch.idle_next;
  (ch.idle_next ? ch.idle_next->idle_prev : idle_tail_) = ch.idle_prev;
  ch.idle_prev = ch.idle_next = nullptr;
  ch.idle = false;
  --idle_count_;
}

void Sequencer::evict_oldest() {
  SeqChannel* old = idle_head_;
  idle_unlink(*old);
  ++evicted_;
  map_.erase(map_.find(std::string_view(old->name)));
}

}  // namespace ringway::gateway
