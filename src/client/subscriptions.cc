// Subscription bookkeeping and gap detection (subscriptions.h).
#include "client/subscriptions.h"

namespace ringway::client {

bool Subscriptions::add(std::string_view channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) it = channels_.emplace(std::string(channel), Entry{}).first;
  bool was = it->second.wanted;
  it->second.wanted = true;
  return !was;
}

bool Subscriptions::remove(std::string_view channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end() || !it->second.wanted) return false;
  it->second.wanted = false;
  // Nothing in flight: forget it entirely (a later subscribe starts without history).
  if (it->second.phase != Phase::kSent) channels_.erase(it);
  return true;
}

bool Subscriptions::wanted(std::string_view channel) const {
  auto it = channels_.find(channel);
  return it != channels_.end() && it->second.wanted;
}

bool Subscriptions::needs_subscribe(std::string_view channel) const {
  auto it = channels_.find(channel);
  return it != channels_.end() && it->second.wanted && it->second.phase == Phase::kIdle;
}

void Subscriptions::mark_sent(std::string_view channel) {
  auto it = channels_.find(channel);
  if (it != channels_.end()) it->second.phase = Phase::kSent;
}

void Subscriptions::on_refused(std::string_view channel, bool keep) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  if (keep && it->second.wanted) it->second.phase = Phase::kIdle;
  else channels_.erase(it);
}

void Subscriptions::on_disconnect() {
  for (auto it = channels_.begin(); it != channels_.end();) {
    Entry& e = it->second;
    e.phase = Phase::kIdle;
    e.this_session = false;
    // Channels only delivered to (the device's own) start afresh on the next connection.
    if (!e.wanted) it = channels_.erase(it);
    else ++it;
  }
}

std::vector<std::string> Subscriptions::pending() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : channels_)
    if (e.wanted && e.phase == Phase::kIdle) out.push_back(name);
  return out;
}

std::vector<std::string> Subscriptions::wanted_list() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : channels_)
    if (e.wanted) out.push_back(name);
  return out;
}

Subscriptions::Answer Subscriptions::on_answer(std::string_view channel, std::string_view epoch,
                                               uint64_t offset) {
  Answer a;
  auto it = channels_.find(channel);
  if (it == channels_.end() || !it->second.wanted) {
    a.unsubscribe = true;
    if (it != channels_.end()) channels_.erase(it);
    return a;
  }
  Entry& e = it->second;
  e.phase = Phase::kActive;
  if (e.known) {
    a.resubscribed = !e.this_session;
    if (e.epoch != epoch && !e.epoch.empty()) {
      a.gap = Gap{Gap::Kind::kEpoch, std::string(channel), e.epoch, std::string(epoch), 1, offset};
    } else if (offset > e.offset) {
      a.gap = Gap{Gap::Kind::kOffsets, std::string(channel), e.epoch, std::string(epoch),
                  e.offset + 1, offset};
    }
  }
  // Deliveries already seen on this connection (after the answer was sent) are newer.
  if (!(e.this_session && e.epoch == epoch && e.offset > offset)) e.offset = offset;
  e.epoch = std::string(epoch);
  e.known = true;
  e.this_session = true;
  return a;
}

Subscriptions::Delivery Subscriptions::on_delivery(std::string_view channel, uint64_t offset) {
  Delivery d;
  auto it = channels_.find(channel);
  if (it == channels_.end()) {  // not asked for: the device's own channel
    it = channels_.emplace(std::string(channel), Entry{}).first;
  } else if (!it->second.wanted && it->second.phase == Phase::kSent) {
    d.drop = true;  // given up while its subscribe was in flight
    return d;
  }
  Entry& e = it->second;
  if (e.this_session && offset > e.offset + 1)
    d.gap = Gap{Gap::Kind::kOffsets, std::string(channel), e.epoch, e.epoch, e.offset + 1,
                offset - 1};
  if (!e.this_session || offset > e.offset) e.offset = offset;
  e.this_session = true;
  e.known = true;
  d.epoch = e.epoch;
  return d;
}

}  // namespace ringway::client
