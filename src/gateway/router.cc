// Routing after the hello: subscribe, unsubscribe, publish and send, across workers.
//
// A channel's sequencer is one worker, picked by a keyed hash of the name. A publish travels to
// it as one mail record; it assigns the next offset, serialises the event frame once into a
// shared block, and sends that block to each worker that has subscribers (one record per
// worker, never one per recipient); each worker queues a reference to it for every local
// subscriber, and the end of the turn sends each connection's output once. Before it assigns an
// offset, the sequencer checks that every worker it must reach has room in its mail ring: a
// publish that could not reach everyone is refused (UNAVAILABLE, retryable) rather than given an
// offset some subscriber would never see.
//
// `delivered` is the subscriber count the sequencer holds for the channel when it assigns the
// offset: no round trip to the workers. It counts a subscriber that is cut (slow consumer) or
// leaves while the frame is on its way, and misses one whose subscribe is still on its way.
#include <openssl/siphash.h>

#include <algorithm>
#include <cstring>

#include "auth/keys.h"
#include "auth/scopes.h"
#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"
#include "io/block.h"
#include "io/clock.h"
#include "io/conn.h"
#include "io/worker.h"
#include "ws/ws.h"

namespace ringway::gateway {

namespace {
constexpr std::string_view kDevicePrefix = "device:";
// How long a refused publisher is told to wait: the backlog of a ring clears in well under this.
constexpr uint64_t kRetryAfterFullRingMs = 50;

Session& session_of(io::Conn& c) { return *static_cast<Session*>(c.session); }

std::vector<Subscription>& subs_of(io::Conn* c) { return session_of(*c).gw->subs; }

// The payload of a server frame of len bytes (its header has the minimal length encoding).
std::span<const uint8_t> frame_payload(const io::Block* frame, uint32_t len) {
  uint8_t len7 = frame->data()[1] & 0x7f;
  size_t h = len7 == 127 ? 10 : len7 == 126 ? 4 : 2;
  return {frame->data() + h, len - h};
}

}  // namespace

PublishCheck check_publish(std::span<const std::string> scopes, bool direct, const RouteParams& p,
                           size_t max_data, std::string_view where) {
  PublishCheck r;
  std::string field(where);
  if (direct) {
    auth::DeviceId id;
    if (!p.has_to || !auth::parse_device_id_hex(p.to, id)) {
      r.code = codes::kInvalidRequest;
      r.message = field + ".to: expected a device id (64 lowercase hex)";
      return r;
    }
    if (!auth::scopes_allow(scopes, "send", "")) {
      r.code = codes::kScopeDenied;
      r.denied = true;
      r.message = "no send scope";
      return r;
    }
    r.channel.assign(kDevicePrefix).append(p.to);
  } else {
    if (!p.has_channel) {
      r.code = codes::kInvalidRequest;
      r.message = field + ".channel: missing";
      return r;
    }
    if (!auth::valid_channel(p.channel)) {
      r.code = codes::kInvalidRequest;
      r.message = field + ".channel: expected 1-128 of [A-Za-z0-9._:-]";
      return r;
    }
    if (!auth::scopes_allow(scopes, "publish", p.channel)) {
      r.code = codes::kScopeDenied;
      r.denied = true;
      r.message = "no publish scope for " + p.channel;
      return r;
    }
    r.channel = p.channel;
  }
  if (!p.has_data) {
    r.code = codes::kInvalidRequest;
    r.message = field + ".data: missing";
  } else if (p.data_json.size() > max_data) {
    r.code = codes::kInvalidRequest;
    r.too_large = true;
    r.message = field + ".data: over " + std::to_string(max_data) + " bytes";
  }
  return r;
}

unsigned channel_sequencer(const uint64_t key[2], unsigned workers, std::string_view channel) {
  if (workers <= 1) return 0;
  uint64_t h = SIPHASH_24(key, reinterpret_cast<const uint8_t*>(channel.data()), channel.size());
  return unsigned(h % workers);
}

unsigned Gateway::sequencer_of(std::string_view channel) const {
  return channel_sequencer(opts_->channel_hash_key, opts_->workers, channel);
}

// ---- requests on a session ----

bool Gateway::take_request_token(Ctx& x, std::string_view request_id) {
  // A token bucket in thousandths of a request: refilled from the time since the last request.
  GatewayState& g = *x.s.gw;
  const uint64_t cap = uint64_t(opts_->request_burst) * 1000;
  uint64_t now = x.w.now();
  if (g.tokens_at_ms == 0) {
    g.tokens_milli = cap;
  } else {
    g.tokens_milli = std::min(cap, g.tokens_milli + (now - g.tokens_at_ms) * opts_->request_rate);
  }
  g.tokens_at_ms = now;
  if (g.tokens_milli >= 1000) {
    g.tokens_milli -= 1000;
    return true;
  }
  ++stats_.rate_limited;
  uint64_t wait = opts_->request_rate ? (1000 - g.tokens_milli + opts_->request_rate - 1) / opts_->request_rate : 1000;
  send_text(x, error_response(request_id, codes::kUnavailable,
                              "over the request rate of " + std::to_string(opts_->request_rate) +
                                  " per second",
                              true, std::max<uint64_t>(wait, 1)));
  return false;
}

void Gateway::on_request_after_hello(Ctx& x, std::span<const uint8_t> payload) {
  RequestParse parsed =
      parse_request({reinterpret_cast<const char*>(payload.data()), payload.size()});
  if (!take_request_token(x, parsed.request_id)) return;
  if (!parsed.ok) {
    send_text(x, error_response(parsed.request_id, codes::kInvalidRequest, parsed.error.message,
                                false, 0));
    return;
  }
  const Request& r = parsed.request;
  if (r.method == "ping") {
    send_text(x, ok_response(r.id, "{\"ts\":" + std::to_string(io::epoch_ms()) + "}"));
  } else if (r.method == "subscribe") {
    do_subscribe(x, r.id, r.params);
  } else if (r.method == "unsubscribe") {
    do_unsubscribe(x, r.id, r.params);
  } else if (r.method == "publish") {
    do_publish(x, r.id, r.params, false);
  } else if (r.method == "send") {
    do_publish(x, r.id, r.params, true);
  } else {
    send_text(x, error_response(r.id, codes::kInvalidRequest, "unknown method: " + r.method,
                                false, 0));
  }
}

namespace {
// The channel of a subscribe/unsubscribe/publish, or an error text.
const char* check_channel(const RouteParams& p) {
  if (!p.has_channel) return "params.channel: missing";
  if (!auth::valid_channel(p.channel))
    return "params.channel: expected 1-128 of [A-Za-z0-9._:-]";
  return nullptr;
}

bool has_subscription(const GatewayState& g, std::string_view channel) {
  for (const Subscription& s : g.subs)
    if (s.channel->name == channel) return true;
  return false;
}
}  // namespace

void Gateway::do_subscribe(Ctx& x, const std::string& id, const RouteParams& p) {
  GatewayState& g = *x.s.gw;
  if (const char* bad = check_channel(p)) {
    send_text(x, error_response(id, codes::kInvalidRequest, bad, false, 0));
    return;
  }
  if (!auth::scopes_allow(g.scopes, "subscribe", p.channel)) {
    ++stats_.scope_denied;
    send_text(x, error_response(id, codes::kScopeDenied, "no subscribe scope for " + p.channel,
                                false, 0));
    return;
  }
  if (std::find(g.pending.begin(), g.pending.end(), p.channel) != g.pending.end()) {
    send_text(x, error_response(id, codes::kInvalidRequest, "a subscribe to " + p.channel +
                                " is already in progress", false, 0));
    return;
  }
  bool already = has_subscription(g, p.channel);
  size_t own = g.who.is_device ? 1 : 0;  // the device's own channel is not counted
  if (!already && g.subs.size() + g.pending.size() >= opts_->max_subscriptions + own) {
    send_text(x, error_response(id, codes::kInvalidRequest,
                                "too many subscriptions (max " +
                                    std::to_string(opts_->max_subscriptions) + ")",
                                false, 0));
    return;
  }
  ++stats_.subscribes;
  auto* job = new SubscribeJob;
  job->channel = p.channel;
  job->request_id = id;
  job->origin_worker = x.w.index();
  job->slot = x.c.slot;
  job->gen = x.c.gen;
  job->delta = already ? 0 : 1;  // already subscribed: only the offset and epoch are asked for
  if (!already) g.pending.push_back(p.channel);
  submit_subscribe(x.w, job);
}

void Gateway::do_unsubscribe(Ctx& x, const std::string& id, const RouteParams& p) {
  GatewayState& g = *x.s.gw;
  if (const char* bad = check_channel(p)) {
    send_text(x, error_response(id, codes::kInvalidRequest, bad, false, 0));
    return;
  }
  ++stats_.unsubscribes;
  if (auto it = std::find(g.pending.begin(), g.pending.end(), p.channel); it != g.pending.end()) {
    g.pending.erase(it);  // the confirmation, when it comes, finds it unwanted and undoes it
  } else {
    for (size_t i = 0; i < g.subs.size(); ++i) {
      if (g.subs[i].channel->name != p.channel) continue;
      auto* job = new SubscribeJob;
      job->channel = p.channel;
      job->delta = -1;
      job->origin_worker = x.w.index();
      local_.remove(g.subs, i, subs_of);
      submit_subscribe(x.w, job);
      break;
    }
  }
  send_text(x, ok_response(id, "{}"));
}

void Gateway::do_publish(Ctx& x, const std::string& id, const RouteParams& p, bool direct) {
  GatewayState& g = *x.s.gw;
  PublishCheck chk = check_publish(g.scopes, direct, p, opts_->max_publish_bytes, "params");
  if (chk.code) {
    if (chk.denied) ++stats_.scope_denied;
    send_text(x, error_response(id, chk.code, chk.message, false, 0));
    return;
  }
  ++(direct ? stats_.sends : stats_.publishes);
  auto* job = new PublishJob;
  job->channel = std::move(chk.channel);
  job->from = g.who.is_device ? auth::hex_lower(g.who.device_id) : g.who.service_name;
  job->data.assign(p.data_json);
  job->request_id = id;
  job->origin_worker = x.w.index();
  job->slot = x.c.slot;
  job->gen = x.c.gen;
  job->direct = direct;
  job->t0_ns = io::monotonic_ns();
  submit_publish(x.w, job);
}

// ---- publish: to the sequencer and back ----

void Gateway::publish_at_sequencer(io::Worker& w, PublishJob* job) {
  if (opts_->bus) {
    bus_publish(w, job);  // Redis gives the offset; the answer comes back by mail
    return;
  }
  sequence(w, *job);
  finish_publish(w, job);
}

void Gateway::submit_publish(io::Worker& w, PublishJob* job) {
  unsigned s = sequencer_of(job->channel);
  if (s == w.index()) {
    publish_at_sequencer(w, job);
    return;
  }
  io::Mail m;
  m.kind = mail_kind::kPublish;
  m.p = job;
  // Not through the outbox: a publish that cannot go now is refused to its publisher, who may
  // retry; queueing it would let a fast publisher grow memory without bound.
  if (!outbox_[s].empty() || !w.send_mail(s, m)) {
    job->error = codes::kUnavailable;
    job->retry_after_ms = kRetryAfterFullRingMs;
    ++stats_.publish_refused;
    finish_publish(w, job);
  }
}

bool Gateway::can_reach_all(io::Worker& w, const SeqChannel& ch) {
  for (const auto& [worker, count] : ch.workers) {
    if (worker == w.index()) continue;
    if (!outbox_[worker].empty() || w.mail_space(worker) == 0) return false;
  }
  return true;
}

void Gateway::sequence(io::Worker& w, PublishJob& job) {
  SeqChannel& ch = seq_.get(job.channel);
  // Every worker the frame must reach needs room now, or nobody gets an offset for it.
  if (!can_reach_all(w, ch)) {
    job.error = codes::kUnavailable;
    job.retry_after_ms = kRetryAfterFullRingMs;
    ++stats_.publish_refused;
    return;
  }
  uint64_t offset = ++ch.offset;
  seq_.touch(ch);
  job.offset = offset;
  job.delivered = ch.total;
  fan_out(w, ch, job.from, job.data, offset, job.t0_ns, false);
}

void Gateway::fan_out(io::Worker& w, const SeqChannel& ch, std::string_view from,
                      std::string_view data, uint64_t offset, uint64_t t0_ns, bool must_arrive) {
  if (ch.workers.empty()) return;
  // The frame, and behind it the channel's name for the workers that look up subscribers.
  std::string json;
  json.reserve(message_event_size_bound(ch.name, from, data));
  append_message_event(json, ch.name, from, offset, data);
  uint8_t head[ws::kMaxServerHeader];
  size_t h = ws::encode_header(head, ws::Opcode::kText, json.size());
  uint32_t frame_len = uint32_t(h + json.size());
  // Compressed once here for every recipient on every worker that compresses with a full
  // window (the rest get the frame as it is, or their own copy for a smaller window).
  std::span<const uint8_t> z;
  if (opts_->deflate != ws::DeflateMode::kOff && json.size() >= opts_->deflate_min_size) {
    z = deflater_.compress({reinterpret_cast<const uint8_t*>(json.data()), json.size()},
                           ws::kMaxWindowBits);
    if (z.size() >= json.size()) z = {};
  }
  uint8_t zhead[ws::kMaxServerHeader];
  size_t zh = z.empty() ? 0 : ws::encode_header(zhead, ws::Opcode::kText, z.size(), true, true);
  uint32_t zframe_len = uint32_t(zh + z.size());
  io::Block* frame = io::Block::create(frame_len + zframe_len + ch.name.size());
  if (!frame) {
    LOG_ERROR("worker %u: out of memory for a %u-byte event frame; offset %lu of %s not delivered",
              w.index(), frame_len, offset, ch.name.c_str());
    return;
  }
  std::memcpy(frame->data(), head, h);
  std::memcpy(frame->data() + h, json.data(), json.size());
  if (zframe_len) {
    ++stats_.deflate_messages;
    stats_.deflate_bytes_in += json.size();
    stats_.deflate_bytes_out += z.size();
    std::memcpy(frame->data() + frame_len, zhead, zh);
    std::memcpy(frame->data() + frame_len + zh, z.data(), z.size());
  }
  std::memcpy(frame->data() + frame_len + zframe_len, ch.name.data(), ch.name.size());
  frame->grow(frame_len + zframe_len + uint32_t(ch.name.size()));
  for (const auto& [worker, count] : ch.workers) {
    if (worker == w.index()) {
      deliver_local(w, ch.name, frame, frame_len, zframe_len, t0_ns);
      continue;
    }
    frame->ref();
    io::Mail m;
    m.kind = mail_kind::kDeliver;
    m.p = frame;
    m.a = frame_len;
    m.b = ch.name.size() | uint64_t(zframe_len) << 32;
    m.c = t0_ns;
    ++stats_.fanout_mails;
    if (must_arrive)
      post(w, worker, m);  // already published (with a bus): it may wait, never be refused
    else if (!w.send_mail(worker, m))
      frame->unref();  // cannot happen: can_reach_all found room
  }
  frame->unref();
}

void Gateway::finish_publish(io::Worker& w, PublishJob* job) {
  if (job->origin_worker == w.index()) {
    answer_publish(w, *job);
    delete job;
    return;
  }
  io::Mail m;
  m.kind = mail_kind::kPublished;
  m.p = job;
  post(w, job->origin_worker, m);
}

void Gateway::answer_publish(io::Worker& w, PublishJob& job) {
  io::Conn* c = w.find(job.slot, job.gen);
  if (!c || !c->session) return;  // the publisher left; the message was still published
  if (job.http) {
    answer_api(w, *c, job);
    return;
  }
  Session& s = session_of(*c);
  if (s.phase != Phase::kWebSocket) return;
  Ctx x(*this, w, *c, s);
  if (job.error) {
    send_text(x, error_response(job.request_id, job.error, "the channel's sequencer is busy; retry",
                                true, job.retry_after_ms));
    return;
  }
  std::string payload = "{\"delivered\":" + std::to_string(job.delivered);
  if (!job.direct) payload += ",\"offset\":" + std::to_string(job.offset);
  payload += "}";
  send_text(x, ok_response(job.request_id, payload));
}

void Gateway::deliver_local(io::Worker& w, std::string_view channel, io::Block* frame,
                            uint32_t len, uint32_t zlen, uint64_t t0_ns) {
  LocalChannel* ch = local_.find(channel);
  if (!ch) return;  // the last local subscriber left while the frame was on its way
  uint64_t now = io::monotonic_ns();
  stats_.publish_to_delivery.observe(now > t0_ns ? (now - t0_ns) / 1000 : 0,
                                     ch->subscribers.size());
  for (const LocalSubscriber& sub : ch->subscribers) {
    io::Conn& c = *sub.conn;
    Session& s = session_of(c);
    if (s.phase != Phase::kWebSocket) continue;
    ++stats_.deliveries;
    Ctx x(*this, w, c, s);
    if (s.reader.server_stream() || (s.deflate_bits && s.deflate_bits < ws::kMaxWindowBits)) {
      // It keeps its own context, or asked for a smaller window than the shared copy's:
      // compressed for it alone.
      send_frame(x, ws::Opcode::kText, frame_payload(frame, len));
      continue;
    }
    ++stats_.messages_out;
    bool compressed = zlen && s.deflate_bits;
    if (compressed) ++stats_.deflate_shared_deliveries;
    if (w.send_shared(c, frame, compressed ? len : 0, compressed ? zlen : len))
      check_buffered(x);  // 4003 for a slow consumer
  }
}

// ---- subscriptions: counted at the sequencer ----

void Gateway::submit_subscribe(io::Worker& w, SubscribeJob* job) {
  unsigned s = sequencer_of(job->channel);
  if (s == w.index()) {
    on_subscribe(w, job);
    return;
  }
  io::Mail m;
  m.kind = mail_kind::kSubscribe;
  m.p = job;
  post(w, s, m);
}

void Gateway::on_subscribe(io::Worker& w, SubscribeJob* job) {
  SeqChannel& ch = seq_.get(job->channel);
  if (opts_->bus) {
    bus_subscribe(w, ch, job);
    return;
  }
  seq_.add(ch, job->origin_worker, job->delta);
  if (job->delta < 0) {
    delete job;
    return;
  }
  // Every frame sequenced after this point reaches the subscriber's worker, behind this answer
  // on the same ring: the subscriber sees offset + 1 next.
  job->offset = ch.offset;
  job->epoch = seq_.epoch(ch);
  answer_subscribe(w, job);
}

void Gateway::answer_subscribe(io::Worker& w, SubscribeJob* job) {
  if (job->origin_worker == w.index()) {
    on_subscribed(w, job);
    return;
  }
  io::Mail m;
  m.kind = mail_kind::kSubscribed;
  m.p = job;
  post(w, job->origin_worker, m);
}

void Gateway::on_subscribed(io::Worker& w, SubscribeJob* job) {
  std::unique_ptr<SubscribeJob> owned(job);
  io::Conn* c = w.find(job->slot, job->gen);
  Session* s = c ? static_cast<Session*>(c->session) : nullptr;
  GatewayState* g = s ? s->gw.get() : nullptr;
  if (job->error) {  // the bus could not be reached: nothing was counted
    if (g) {
      auto it = std::find(g->pending.begin(), g->pending.end(), job->channel);
      if (it != g->pending.end()) g->pending.erase(it);
    }
    if (!g || s->phase != Phase::kWebSocket) return;
    Ctx x(*this, w, *c, *s);
    if (job->internal) {
      refuse(x, g->request_id, codes::kUnavailable, "the message bus is unavailable; retry",
             ws::close_code::kTryAgainLater, 1000);
      return;
    }
    send_text(x, error_response(job->request_id, codes::kUnavailable,
                                "the message bus is unavailable; retry", true, 1000));
    return;
  }
  if (job->delta > 0) {
    auto it = g ? std::find(g->pending.begin(), g->pending.end(), job->channel)
                : std::vector<std::string>::iterator{};
    if (!g || it == g->pending.end()) {
      // The session left, or unsubscribed meanwhile: take the count back.
      owned->delta = -1;
      submit_subscribe(w, owned.release());
      return;
    }
    g->pending.erase(it);
    local_.add(job->channel, c, g->subs);
  }
  if (!g || s->phase != Phase::kWebSocket) return;
  Ctx x(*this, w, *c, *s);
  if (job->internal) {  // the device can now be reached: its hello goes out
    send_hello(x);
    return;
  }
  std::string payload = "{\"epoch\":";
  append_json_string(payload, job->epoch);
  payload += ",\"offset\":" + std::to_string(job->offset) + "}";
  send_text(x, ok_response(job->request_id, payload));
}

void Gateway::drop_subscriptions(io::Worker& w, io::Conn& c, GatewayState& g) {
  while (!g.subs.empty()) {
    auto* job = new SubscribeJob;
    job->channel = g.subs.back().channel->name;
    job->delta = -1;
    job->origin_worker = w.index();
    local_.remove(g.subs, g.subs.size() - 1, subs_of);
    submit_subscribe(w, job);
  }
  g.pending.clear();  // their confirmations find the session gone and undo themselves
}

// ---- mail that must arrive ----

void Gateway::post(io::Worker& w, unsigned target, const io::Mail& m) {
  if (outbox_[target].empty() && w.send_mail(target, m)) return;
  outbox_[target].push_back(m);
  ++outbox_size_;
  ++stats_.outbox_deferred;
  w.poll_after(1);
}

void Gateway::on_turn_end(io::Worker& w) {
  // Gauges for readers on other threads: published once per turn, not on every change.
  stats_.http_connections.set(state_counts_[size_t(CountState::kHttp)]);
  stats_.echo_sessions.set(state_counts_[size_t(CountState::kEcho)]);
  stats_.unauthenticated_sessions.set(state_counts_[size_t(CountState::kUnauthenticated)]);
  stats_.sessions.set(state_counts_[size_t(CountState::kSession)]);
  stats_.status_watchers.set(state_counts_[size_t(CountState::kStatus)]);
  stats_.closing.set(state_counts_[size_t(CountState::kClosing)]);
  stats_.local_channels.set(local_.channels());
  stats_.local_subscriptions.set(local_.subscriptions());
  stats_.sequenced_channels.set(seq_.channels());
  stats_.idle_channels.set(seq_.idle_channels());
  stats_.indexed_sessions.set(indexed_sessions());
  stats_.outbox_records.set(outbox_size_);
  if (outbox_size_ == 0) return;
  for (unsigned t = 0; t < outbox_.size(); ++t) {
    auto& q = outbox_[t];
    while (!q.empty() && w.send_mail(t, q.front())) {
      q.pop_front();
      --outbox_size_;
    }
  }
  if (outbox_size_) w.poll_after(1);
}

}  // namespace ringway::gateway
