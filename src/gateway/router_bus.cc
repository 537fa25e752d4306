// Routing with a bus (several nodes through Redis, src/bus). The channel's sequencer worker
// still counts this node's subscribers and fans each message out to the workers that have some;
// what changes is where offsets come from: a publish goes to Redis, which numbers it and sends it
// to every node watching the channel's partition, this one included, so local and remote
// subscribers see one order. A channel is watched while it has subscribers here; the first
// subscribe waits for the watch (Redis then says the channel's latest offset and its epoch).
#include "bus/bus.h"
#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/json_writer.h"
#include "io/clock.h"
#include "io/worker.h"

namespace ringway::gateway {

namespace {
constexpr uint64_t kRetryAfterBusDownMs = 1000;
// Messages held for a channel whose watch is being answered; more are dropped (and counted).
constexpr size_t kMaxEarlyMessages = 4096;
}  // namespace

void Gateway::bus_publish(io::Worker& w, PublishJob* job) {
  auto* p = new bus::Publish;
  p->channel = job->channel;
  p->from = job->from;
  p->data = job->data;
  p->cookie = job;
  p->reply_worker = w.index();
  io::Mail m;
  m.kind = bus::kind::kPublish;
  m.p = p;
  if (!opts_->bus->send(w.index(), m)) {  // the bus is behind: refuse, never queue without bound
    delete p;
    job->error = codes::kUnavailable;
    job->retry_after_ms = kRetryAfterBusDownMs;
    ++stats_.publish_refused;
    finish_publish(w, job);
  }
}

void Gateway::on_bus_published(io::Worker& w, bus::Publish* p) {
  std::unique_ptr<bus::Publish> owned(p);
  auto* job = static_cast<PublishJob*>(p->cookie);
  if (!p->ok) {
    job->error = codes::kUnavailable;
    job->retry_after_ms = kRetryAfterBusDownMs;
    ++stats_.publish_refused;
  } else {
    job->offset = p->offset;
    // This node's subscribers, plus one for each other node Redis delivered it to (their own
    // subscriber counts are not known here: docs/protocol.md).
    SeqChannel* ch = seq_.find(job->channel);
    uint64_t local = ch ? ch->total : 0;
    bool self = ch && ch->bus && ch->bus->watched;
    job->delivered = local + (p->receivers > (self ? 1 : 0) ? p->receivers - (self ? 1 : 0) : 0);
  }
  finish_publish(w, job);
}

void Gateway::bus_subscribe(io::Worker& w, SeqChannel& ch, SubscribeJob* job) {
  if (!ch.bus) ch.bus = std::make_unique<BusState>();
  BusState& b = *ch.bus;
  if (job->delta < 0) {
    seq_.add(ch, job->origin_worker, job->delta);
    delete job;
    if (ch.total == 0 && b.watched) {  // the last subscriber here left: stop watching
      b.watched = false;
      auto* watch = new bus::Watch;
      watch->channel = ch.name;
      watch->reply_worker = w.index();
      io::Mail m;
      m.kind = bus::kind::kUnwatch;
      m.p = watch;
      if (!opts_->bus->send(w.index(), m)) delete watch;  // stays subscribed; harmless
    }
    return;
  }
  // Counted now, so the channel is not forgotten (evicted) while the watch is on its way.
  seq_.add(ch, job->origin_worker, job->delta);
  if (b.watched) {
    job->offset = ch.offset;
    job->epoch = b.epoch;
    answer_subscribe(w, job);
    return;
  }
  b.waiting.push_back(job);
  if (b.watching) return;
  b.watching = true;
  auto* watch = new bus::Watch;
  watch->channel = ch.name;
  watch->reply_worker = w.index();
  io::Mail m;
  m.kind = bus::kind::kWatch;
  m.p = watch;
  if (!opts_->bus->send(w.index(), m)) {
    watch->ok = false;
    on_bus_watched(w, watch);
  }
}

void Gateway::on_bus_watched(io::Worker& w, bus::Watch* watch) {
  std::unique_ptr<bus::Watch> owned(watch);
  SeqChannel* ch = seq_.find(watch->channel);
  if (!ch || !ch->bus || !ch->bus->watching) return;
  BusState& b = *ch->bus;
  b.watching = false;
  std::vector<SubscribeJob*> waiting;
  waiting.swap(b.waiting);
  std::vector<bus::Message*> early;
  early.swap(b.early);
  if (!watch->ok) {
    for (SubscribeJob* job : waiting) {
      seq_.add(*ch, job->origin_worker, -job->delta);  // not subscribed after all
      job->error = codes::kUnavailable;
      answer_subscribe(w, job);
    }
    for (bus::Message* m : early) delete m;
    return;
  }
  b.watched = true;
  b.epoch = watch->epoch;
  ch->offset = watch->offset;
  for (SubscribeJob* job : waiting) {
    job->offset = ch->offset;
    job->epoch = b.epoch;
    answer_subscribe(w, job);
  }
  // Messages that overtook the watch's answer: those after the offset it reported follow it.
  for (bus::Message* m : early) on_bus_message(w, m);
  if (ch->total == 0) {  // everyone left while the watch was on its way
    b.watched = false;
    auto* un = new bus::Watch;
    un->channel = ch->name;
    io::Mail mm;
    mm.kind = bus::kind::kUnwatch;
    mm.p = un;
    if (!opts_->bus->send(w.index(), mm)) delete un;
  }
}

void Gateway::on_bus_message(io::Worker& w, bus::Message* m) {
  std::unique_ptr<bus::Message> owned(m);
  SeqChannel* ch = seq_.find(m->channel);
  if (!ch || !ch->bus) return;  // another channel of a partition this node watches
  BusState& b = *ch->bus;
  if (b.watching) {
    if (b.early.size() < kMaxEarlyMessages) {
      b.early.push_back(owned.release());
    } else {
      LOG_PEER(kWarn, "worker %u: messages for %s dropped while its watch was answered",
               w.index(), ch->name.c_str());
    }
    return;
  }
  if (!b.watched) return;
  if (m->epoch != b.epoch) {
    // A new history (Redis lost the old one, or it expired): offsets start over.
    b.epoch = m->epoch;
    ch->offset = 0;
  }
  if (m->offset <= ch->offset) return;  // already delivered, or history before the watch
  ch->offset = m->offset;
  fan_out(w, *ch, m->from, m->data, m->offset, io::monotonic_ns(), /*must_arrive=*/true);
}

}  // namespace ringway::gateway
