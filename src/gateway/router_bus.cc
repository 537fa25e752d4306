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
    ++stats_.bus_backpressure;
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
    // This node's subscribers, plus one for each other node that watches the channel and got
    // it (their subscriber counts are not known here: docs/protocol.md).
    SeqChannel* ch = seq_.find(job->channel);
    job->delivered = (ch ? ch->total : 0) + p->receivers;
  }
  finish_publish(w, job);
}

void Gateway::send_watch(io::Worker& w, SeqChannel& ch, bool again) {
  BusState& b = *ch.bus;
  b.watching = true;
  b.again = again;
  auto* watch = new bus::Watch;
  watch->channel = ch.name;
  watch->reply_worker = w.index();
  watch->again = again;
  io::Mail m;
  m.kind = bus::kind::kWatch;
  m.p = watch;
  if (!opts_->bus->send(w.index(), m)) {
    ++stats_.bus_backpressure;
    watch->ok = false;
    on_bus_watched(w, watch);
  }
}

void Gateway::bus_subscribe(io::Worker& w, SeqChannel& ch, SubscribeJob* job) {
  if (!ch.bus) ch.bus = std::make_unique<BusState>();
  BusState& b = *ch.bus;
  if (job->delta < 0) {
    seq_.add(ch, job->origin_worker, job->delta);
    delete job;
    if (ch.total == 0 && b.watched && !b.watching) unwatch(w, ch);
    return;
  }
  // Counted now, so the channel is not forgotten (evicted) while the watch is on its way.
  seq_.add(ch, job->origin_worker, job->delta);
  if (b.watched && !b.watching) {
    job->offset = ch.offset;
    job->epoch = b.epoch;
    answer_subscribe(w, job);
    return;
  }
  b.waiting.push_back(job);
  if (!b.watching) send_watch(w, ch, /*again=*/false);
}

void Gateway::unwatch(io::Worker& w, SeqChannel& ch) {
  ch.bus->watched = false;
  auto* un = new bus::Watch;
  un->channel = ch.name;
  un->reply_worker = w.index();
  io::Mail m;
  m.kind = bus::kind::kUnwatch;
  m.p = un;
  if (!opts_->bus->send(w.index(), m)) {  // the node stays subscribed to the partition; harmless
    ++stats_.bus_backpressure;
    delete un;
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
    // A resync that failed keeps the channel watched (the bus still counts it) with what it
    // knew; a first watch that failed leaves it unwatched.
    for (SubscribeJob* job : waiting) {
      if (job->internal) {
        // A device's own channel: its hello goes out anyway, so devices can log in while the
        // bus is down. The channel is watched when the bus returns (on_bus_resync); until then
        // sends to the device from other nodes do not reach it.
        job->offset = ch->offset;
        job->epoch = b.epoch;
        answer_subscribe(w, job);
        continue;
      }
      seq_.add(*ch, job->origin_worker, -job->delta);  // not subscribed after all
      job->error = codes::kUnavailable;
      answer_subscribe(w, job);
    }
    if (b.watched)
      for (bus::Message* m : early) on_bus_message(w, m);
    else
      for (bus::Message* m : early) delete m;
    if (b.watched && ch->total == 0) unwatch(w, *ch);
    return;
  }
  if (watch->again && b.watched && watch->epoch == b.epoch) {
    // The same history: messages published while the node could not hear them show as an
    // offset jump to its subscribers.
    ch->offset = std::max(ch->offset, watch->offset);
  } else {
    if (b.watched && watch->epoch != b.epoch) ++stats_.bus_epoch_changes;
    b.epoch = watch->epoch;
    ch->offset = watch->offset;
  }
  b.watched = true;
  for (SubscribeJob* job : waiting) {
    job->offset = ch->offset;
    job->epoch = b.epoch;
    answer_subscribe(w, job);
  }
  // Messages that overtook the watch's answer: those after the offset it reported follow it.
  for (bus::Message* m : early) on_bus_message(w, m);
  if (ch->total == 0) unwatch(w, *ch);  // everyone left while the watch was on its way
}

void Gateway::on_bus_resync(io::Worker& w, bus::Resync* r) {
  std::unique_ptr<bus::Resync> owned(r);
  seq_.for_each([&](SeqChannel& ch) {
    if (!ch.bus || ch.bus->watching) return;
    if (!r->partitions[opts_->bus->partition_of(ch.name)]) return;
    if (ch.bus->watched)
      send_watch(w, ch, /*again=*/true);
    else if (ch.total > 0)
      send_watch(w, ch, /*again=*/false);  // subscribed while the bus was down
  });
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
      ++stats_.bus_early_dropped;
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
