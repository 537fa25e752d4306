#pragma once
// The two halves of a channel on one node, each owned by one worker and touched only there:
//
// - LocalChannels: this worker's subscribers of each channel, so a delivery that arrives here is
//   queued to each of them (a reference to the one shared frame, not a copy). A subscriber and
//   its session point at each other's positions, so removing one is O(1) either way.
// - Sequencer: for the channels this worker sequences (a keyed hash of the name picks the
//   worker), the offset of the last publish, the epoch of that history, and how many
//   subscribers each worker has. That last part is also the device directory: the sequencer of
//   "device:<id>" knows which workers hold a session of that device, so a direct message goes
//   only there. Channels without subscribers are kept on an idle list, oldest evicted past a
//   cap; an evicted channel's history is gone, so it comes back under a new epoch.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ringway::io {
struct Conn;
}

namespace ringway::gateway {

struct LocalChannel;

// One of a session's subscriptions: where it sits in the channel's subscriber list.
struct Subscription {
  LocalChannel* channel;
  uint32_t pos;
};

struct LocalSubscriber {
  io::Conn* conn;
  uint32_t index;  // of the Subscription in that session's list
};

struct LocalChannel {
  std::string name;
  std::vector<LocalSubscriber> subscribers;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class LocalChannels {
 public:
  LocalChannel* find(std::string_view name);
  // Adds conn (whose session's subscriptions are `subs`) to `name`.
  void add(std::string_view name, io::Conn* conn, std::vector<Subscription>& subs);
  // Removes subs[i]; `subs_of` gives the subscription list of another connection, to fix the
  // position of the subscriber moved into the gap. Drops the channel when it empties.
  template <class SubsOf>
  void remove(std::vector<Subscription>& subs, size_t i, SubsOf&& subs_of);
  size_t channels() const { return map_.size(); }
  size_t subscriptions() const { return subscriptions_; }

 private:
  std::unordered_map<std::string, std::unique_ptr<LocalChannel>, StringHash, std::equal_to<>> map_;
  size_t subscriptions_ = 0;
};

struct SubscribeJob;
}  // namespace ringway::gateway
namespace ringway::bus {
struct Message;
}
namespace ringway::gateway {

// With a bus (several nodes), a channel's offsets and epoch come from Redis; this node's
// sequencer then only counts subscribers, keeps the node subscribed while it has any (a watch),
// and passes each message from Redis on in order.
struct BusState {
  bool watched = false;   // Redis delivers this channel's messages to this node
  bool watching = false;  // a watch is on its way
  bool again = false;     // ... and it asks again for a channel already watched (a resync)
  std::string epoch;
  std::vector<SubscribeJob*> waiting;  // subscribes answered when the watch is confirmed
  std::vector<bus::Message*> early;    // messages that came before the watch's answer
};

struct SeqChannel {
  std::string name;
  uint64_t offset = 0;       // of the last message published, or with a bus delivered (0: none)
  uint64_t incarnation = 0;  // names this history of offsets (part of the epoch)
  uint32_t total = 0;        // subscribers on every worker
  std::vector<std::pair<uint32_t, uint32_t>> workers;  // (worker, subscribers), count > 0
  std::unique_ptr<BusState> bus;  // with a bus only
  SeqChannel* idle_prev = nullptr;  // on the idle list while total == 0
  SeqChannel* idle_next = nullptr;
  bool idle = false;
};

class Sequencer {
 public:
  Sequencer(unsigned worker, std::string node_epoch, size_t max_idle)
      : worker_(worker), node_epoch_(std::move(node_epoch)), max_idle_(max_idle) {}
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  SeqChannel* find(std::string_view name);
  // The channel, created (with a new incarnation, on the idle list) if it is not known.
  SeqChannel& get(std::string_view name);
  // A worker's subscriber count changes by delta (never below zero).
  void add(SeqChannel& ch, unsigned worker, int64_t delta);
  // A publish to an idle channel keeps it at the recent end of the idle list.
  void touch(SeqChannel& ch);
  std::string epoch(const SeqChannel& ch) const;
  size_t channels() const { return map_.size(); }
  template <class F>
  void for_each(F&& f) {
    for (auto& [name, ch] : map_) f(*ch);
  }
  size_t idle_channels() const { return idle_count_; }
  uint64_t evicted() const { return evicted_; }

 private:
  void idle_push(SeqChannel& ch);
  void idle_unlink(SeqChannel& ch);
  void evict_oldest();

  unsigned worker_;
  std::string node_epoch_;
  size_t max_idle_;
  uint64_t next_incarnation_ = 1;
  std::unordered_map<std::string, std::unique_ptr<SeqChannel>, StringHash, std::equal_to<>> map_;
  SeqChannel* idle_head_ = nullptr;  // oldest
  SeqChannel* idle_tail_ = nullptr;
  size_t idle_count_ = 0;
  uint64_t evicted_ = 0;
};

// ---- inline ----

template <class SubsOf>
void LocalChannels::remove(std::vector<Subscription>& subs, size_t i, SubsOf&& subs_of) {
  Subscription s = subs[i];
  LocalChannel* ch = s.channel;
  // Out of the channel's list: the last subscriber moves into the gap.
  auto& list = ch->subscribers;
  if (s.pos + 1 != list.size()) {
    list[s.pos] = list.back();
    subs_of(list[s.pos].conn)[list[s.pos].index].pos = s.pos;
  }
  list.pop_back();
  // Out of the session's list: its last subscription moves into the gap.
  if (i + 1 != subs.size()) {
    subs[i] = subs.back();
    subs[i].channel->subscribers[subs[i].pos].index = uint32_t(i);
  }
  subs.pop_back();
  --subscriptions_;
  if (list.empty()) map_.erase(map_.find(std::string_view(ch->name)));
}

}  // namespace ringway::gateway
