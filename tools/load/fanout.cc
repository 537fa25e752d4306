// fanout: one or more publishers and N subscribers. Connections 0..N-1 subscribe; N..N+P-1
// publish, each at rate/P on an open-loop schedule whose intended send time travels in the
// message ("t"), so publish-to-delivery latency includes any backlog (coordinated omission).
// Against the gateway (--target ringway) subscribers are devices that subscribe to one channel
// and check that its offsets go up by one; publishers are service sessions (--token) or devices
// and count their answers (ok, or UNAVAILABLE: refused). Against a peer broadcast server
// (--target peer) every connection is a plain WebSocket; each publisher numbers its messages
// ("seq", with its index in "pub") and subscribers check each publisher's sequence.
#include <algorithm>
#include <string>
#include <vector>

#include "load/fanout_messages.h"
#include "load/keys.h"
#include "load/loop.h"
#include "load/workload.h"
#include "ringway/client.h"

namespace ringway::load {

namespace {

constexpr std::string_view kSubscribeId = "s1";
// Peer target (no answers to count): unsent bytes on a publisher before its schedule waits.
constexpr size_t kMaxUnsentPeerBytes = size_t(1) << 20;

class FanoutWorkload final : public Workload {
 public:
  FanoutWorkload(const Options& o, unsigned thread, unsigned threads)
      : o_(o),
        peer_(o.target == Target::kPeer),
        streams_(peer_ ? o.publishers : 1),
        interval_ns_(1e9 * double(o.publishers) / o.rate) {
    sub_scopes_ = o.scopes.empty() ? std::vector<std::string>{"subscribe:" + o.channel} : o.scopes;
    pub_scopes_ = o.scopes.empty() ? std::vector<std::string>{"publish:" + o.channel} : o.scopes;
    for (uint64_t k = 0; k < o.publishers; ++k)
      if ((o.connections + k) % threads == thread) pubs_.push_back(Publisher{uint32_t(k)});
  }

  bool keeps_buffers(const Conn& c) const override { return o_.is_publisher(c.global_index); }

  bool append_connect_request(Loop& l, Conn& c, std::string_view nonce,
                              std::string& out) override {
    if (!o_.is_publisher(c.global_index)) {
      l.append_device_connect_request(out, c, nonce, sub_scopes_);
    } else if (!o_.token.empty()) {
      static const client::ClientInfo info = load_client_info();
      out += client::service_connect_request(o_.token, pub_scopes_, "1", info);
    } else {
      l.append_device_connect_request(out, c, nonce, pub_scopes_);
    }
    return true;
  }

  void on_ready(Loop& l, Conn& c) override {
    size_t slots = l.conns().size();
    if (subscribed_.size() < slots) {
      subscribed_.resize(slots, 0);
      seq_.resize(slots * streams_);
    }
    if (Publisher* p = publisher(c)) {
      p->slot = c.slot;
      p->gen = c.gen;
      p->ready = true;
      p->outstanding = 0;
      return;
    }
    if (peer_) {
      // The publishers start after the ramp at seq 0; a subscriber that joins later takes
      // the first number it sees as its baseline.
      for (size_t k = 0; k < streams_; ++k) {
        SeqTracker& s = tracker(c, k);
        if (l.phase() == Phase::kRamp) s.expect(0);
        else s.forget();
      }
      mark_subscribed(l, c);
      return;
    }
    scratch_.clear();
    append_subscribe_request(scratch_, kSubscribeId, o_.channel);
    l.queue_text(c, scratch_);
  }

  void on_session_end(Loop& l, Conn& c) override {
    if (Publisher* p = publisher(c)) {
      p->ready = false;
      p->outstanding = 0;  // those answers will not come
    } else if (c.slot < subscribed_.size() && subscribed_[c.slot]) {
      subscribed_[c.slot] = 0;
      Counters::sub(l.counters().subscribed);
    }
  }

  bool on_message(Loop& l, Conn& c, ws::Opcode opcode, std::span<const uint8_t> payload) override {
    if (opcode != ws::Opcode::kText) {
      l.fail(c, "fanout", "not a text message");
      return false;
    }
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (Publisher* p = publisher(c)) {
      // The peer sends a publisher the other publishers' messages: not deliveries.
      if (!peer_ && classify(text) == Incoming::kResponse) on_publish_answer(l, *p, text);
      return true;
    }
    if (peer_) {
      on_peer_delivery(l, c, text);
      return true;
    }
    switch (classify(text)) {
      case Incoming::kMessageEvent: on_delivery(l, c, text); return true;
      case Incoming::kResponse: on_subscribe_answer(l, c, text); return true;
      case Incoming::kOtherEvent: return true;
      case Incoming::kUnknown: break;
    }
    l.count_error("fanout", "a subscriber got neither an event nor a response");
    return true;
  }

  void on_turn(Loop& l) override {
    if (l.stopping() || l.phase() == Phase::kRamp) return;
    const double now = double(l.now_ns());
    for (Publisher& p : pubs_) {
      if (!p.started) {
        // The schedule starts with the warmup; publishers are spread over one interval.
        p.started = true;
        p.next_ns = now + interval_ns_ * double(p.index) / double(o_.publishers);
      }
      Conn* c = live(l, p) ? l.find(p.slot, p.gen) : nullptr;
      while (c && p.next_ns <= now && may_send(p, *c)) {
        send(l, p, *c, uint64_t(p.next_ns));
        p.next_ns += interval_ns_;
        if (c->state != ConnState::kReady) break;
      }
    }
  }

  uint64_t next_wakeup_ns(const Loop& l) const override {
    if (l.stopping() || l.phase() == Phase::kRamp) return 0;
    double next = 0;
    for (const Publisher& p : pubs_) {
      if (!p.started) return l.now_ns();
      const Conn* c = live(l, p);
      if (!c || !may_send(p, *c)) continue;  // an answer or a finished send wakes the loop
      if (next == 0 || p.next_ns < next) next = p.next_ns;
    }
    return next > 0 ? uint64_t(next) + 1 : 0;
  }

 private:
  struct Publisher {
    uint32_t index;  // 0..P-1
    uint32_t slot = 0, gen = 0;
    bool ready = false, started = false;
    uint32_t outstanding = 0;  // publishes without an answer (gateway)
    uint64_t next_id = 0;      // request ids (gateway)
    uint64_t seq = 0;          // message numbers (peer); never reset
    double next_ns = 0;        // intended time of the next publish
  };

  Publisher* publisher(const Conn& c) {
    if (!o_.is_publisher(c.global_index)) return nullptr;
    uint64_t k = c.global_index - o_.connections;
    auto it = std::lower_bound(pubs_.begin(), pubs_.end(), k,
                               [](const Publisher& p, uint64_t v) { return p.index < v; });
    return it != pubs_.end() && it->index == k ? &*it : nullptr;
  }

  // The publisher's session if it is up.
  static const Conn* live(const Loop& l, const Publisher& p) {
    const Conn* c = p.ready ? l.find(p.slot, p.gen) : nullptr;
    return c && c->state == ConnState::kReady ? c : nullptr;
  }

  bool may_send(const Publisher& p, const Conn& c) const {
    return peer_ ? c.out.size() < kMaxUnsentPeerBytes : p.outstanding < o_.depth;
  }

  SeqTracker& tracker(const Conn& c, size_t stream) { return seq_[c.slot * streams_ + stream]; }

  void mark_subscribed(Loop& l, const Conn& c) {
    subscribed_[c.slot] = 1;
    Counters::add(l.counters().subscribed);
  }

  void send(Loop& l, Publisher& p, Conn& c, uint64_t intended_ns) {
    scratch_.clear();
    if (peer_) {
      append_peer_message(scratch_, intended_ns, p.seq++, p.index, o_.size);
    } else {
      append_publish_request(scratch_, ++p.next_id, o_.channel, intended_ns, o_.size);
      ++p.outstanding;
    }
    if (!l.queue_text(c, scratch_)) return;
    Counters& k = l.counters();
    Counters::add(k.sent_total);
    if (l.measuring()) Counters::add(k.published);
  }

  void on_publish_answer(Loop& l, Publisher& p, std::string_view text) {
    FanoutResponse r = parse_fanout_response(text);
    if (!r.parsed) {
      l.count_error("fanout", "a malformed response to a publish");
      return;
    }
    if (p.outstanding) --p.outstanding;
    Counters& k = l.counters();
    if (r.ok) {
      if (l.measuring()) {
        Counters::add(k.publish_ok);
        Counters::add(k.delivered_reported, r.delivered);
      }
    } else if (r.code == "UNAVAILABLE") {
      Counters::add(k.publish_refused);
    } else {
      l.count_error("publish refused", r.code);
    }
  }

  void on_subscribe_answer(Loop& l, Conn& c, std::string_view text) {
    FanoutResponse r = parse_fanout_response(text);
    if (!r.parsed || r.id != kSubscribeId || subscribed_[c.slot]) {
      l.count_error("fanout", "a response the subscriber did not ask for");
      return;
    }
    if (r.ok) {
      tracker(c, 0).expect(r.offset + 1);
      mark_subscribed(l, c);
      return;
    }
    if (r.code == "UNAVAILABLE") {  // shed: come back after the delay it asks for
      Counters::add(l.counters().unavailable);
      l.retry_after(c, r.retry_after_ms);
      l.begin_close(c, 1000);
      return;
    }
    l.fail(c, "subscribe refused", r.code);
  }

  void on_delivery(Loop& l, Conn& c, std::string_view text) {
    if (!subscribed_[c.slot]) {
      l.count_error("fanout", "a message before the subscribe answer");
      return;
    }
    uint64_t offset = 0, t = 0;
    if (!parse_delivery(text, offset, t)) {
      l.count_error("fanout", "a message event without payload.offset or data.t");
      return;
    }
    record(l, c, 0, offset, t, "offset repeated or went backwards");
  }

  void on_peer_delivery(Loop& l, Conn& c, std::string_view text) {
    uint64_t t = 0, seq = 0;
    uint32_t pub = 0;
    if (!parse_peer_message(text, t, seq, pub) || pub >= streams_) {
      l.count_error("fanout", "a peer message without t, seq and a known pub");
      return;
    }
    record(l, c, pub, seq, t, "seq repeated or went backwards");
  }

  void record(Loop& l, Conn& c, size_t stream, uint64_t seq, uint64_t t_ns, const char* backwards) {
    uint64_t now = Loop::clock_ns();  // not the turn's time: a turn may hold many deliveries
    SeqTracker::Step s = tracker(c, stream).on(seq);
    if (s.backwards) {
      l.count_error("fanout", backwards);
      return;
    }
    Counters& k = l.counters();
    Counters::add(k.messages_total);
    if (s.lost) Counters::add(k.lost_total, s.lost);
    if (!l.measuring()) return;
    Counters::add(k.messages);
    if (s.lost) Counters::add(k.lost, s.lost);
    l.record_latency(now > t_ns ? now - t_ns : 0);
  }

  const Options& o_;
  const bool peer_;
  const size_t streams_;  // sequences a subscriber checks: 1 (the channel) or one per publisher
  const double interval_ns_;
  std::vector<std::string> sub_scopes_, pub_scopes_;
  std::vector<Publisher> pubs_;  // this thread's, by index
  std::vector<uint8_t> subscribed_;  // by slot
  std::vector<SeqTracker> seq_;      // by slot * streams_ + stream
  std::string scratch_;
};

}  // namespace

std::unique_ptr<Workload> make_fanout_workload(const Options& opt, unsigned thread,
                                               unsigned threads) {
  return std::make_unique<FanoutWorkload>(opt, thread, threads);
}

}  // namespace ringway::load
