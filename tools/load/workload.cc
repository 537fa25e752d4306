#include "load/workload.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <deque>
#include <vector>

#include "client/frames.h"
#include "load/loop.h"

namespace ringway::load {

namespace {

// `size` bytes of what devices send: a JSON array of readings whose values vary (so it
// compresses as such traffic does, about 3-10x, not like a repeated string), cut at `size`.
template <class Random>
std::string device_json(size_t size, Random& next) {
  std::string out = "[";
  char rec[200];
  uint64_t ts = 1764633600000;
  while (out.size() < size) {
    uint64_t r = next();
    ts += 1000 + (r & 1023);
    int n = std::snprintf(rec, sizeof rec,
                          "%s{\"device\":\"sensor-%05u\",\"ts\":%llu,\"temperature\":%u.%u,"
                          "\"humidity\":%u,\"battery\":%u,\"status\":\"%s\"}",
                          out.size() > 1 ? "," : "", unsigned(r >> 8) % 50000,
                          static_cast<unsigned long long>(ts), 15 + unsigned(r >> 24) % 15,
                          unsigned(r >> 32) % 10, 30 + unsigned(r >> 36) % 50,
                          unsigned(r >> 44) % 101, (r >> 52) % 8 ? "ok" : "low-battery");
    out.append(rec, size_t(n));
  }
  out.resize(size);
  return out;
}

// echo: binary messages of `size` bytes, `depth` in flight per connection (closed loop), or a
// total rate with depth as the per-connection cap (open loop). Each message is a per-thread
// random block (or, with --payload json, device-like JSON text) whose first 8 bytes are XORed
// with a tag of (connection, sequence number), so an echo that is short, reordered, duplicated
// or from another connection fails the check. On a connection that agreed to permessage-deflate
// each message is compressed (no context takeover) before it is masked.
class EchoWorkload final : public Workload {
 public:
  EchoWorkload(const Options& o, unsigned threads, uint64_t seed)
      : size_(o.size), depth_(o.depth), rate_(o.rate / threads), pattern_(o.size) {
    uint64_t s = seed | 1;
    auto next = [&s] {
      s ^= s >> 12;
      s ^= s << 25;
      s ^= s >> 27;
      return s * 0x2545f4914f6cdd1dull;
    };
    if (o.json_payload) {
      std::string text = device_json(size_, next);
      std::memcpy(pattern_.data(), text.data(), size_);
    } else {
      for (auto& b : pattern_) b = uint8_t(next() >> 56);
    }
    if (rate_ > 0) interval_ns_ = 1e9 / rate_;
  }

  bool keeps_buffers(const Conn&) const override { return true; }

  void on_ready(Loop& l, Conn& c) override {
    if (!c.sent_at) c.sent_at = std::make_unique<uint64_t[]>(depth_);
    std::memset(c.sent_at.get(), 0, depth_ * sizeof(uint64_t));
    c.next_seq = c.next_expected = c.stamped_to = 0;
    if (rate_ > 0) {
      for (unsigned k = 0; k < depth_; ++k) credits_.push_back({c.slot, c.gen});
      return;
    }
    // Closed loop: nothing is sent while connections are still being opened, so a server
    // that is busy echoing is not also slowed down in accepting (which would skew the ramp).
    if (l.phase() == Phase::kRamp) {
      waiting_.push_back({c.slot, c.gen});
      return;
    }
    fill(l, c);
  }

  void fill(Loop& l, Conn& c) {
    for (unsigned k = 0; k < depth_ && c.state == ConnState::kReady; ++k) send(l, c, 0);
  }

  bool on_message(Loop& l, Conn& c, ws::Opcode opcode, std::span<const uint8_t> p) override {
    if (opcode != ws::Opcode::kBinary) {
      l.fail(c, "echo", "not a binary message");
      return false;
    }
    if (!c.sent_at || c.next_expected == c.next_seq) {
      l.fail(c, "echo", "an echo of nothing sent");
      return false;
    }
    if (p.size() != size_) {
      l.fail(c, "echo", "wrong length");
      return false;
    }
    if (!matches(c, c.next_expected, p)) {
      l.fail(c, "echo", "content differs from what was sent");
      return false;
    }
    uint64_t& t = c.sent_at[c.next_expected % depth_];
    uint64_t sent = t;
    t = 0;
    ++c.next_expected;
    Counters& k = l.counters();
    Counters::add(k.messages_total);
    if (l.measuring()) {
      Counters::add(k.messages);
      l.record_latency(l.now_ns() > sent ? l.now_ns() - sent : 0);
    }
    if (c.state != ConnState::kReady || l.stopping()) return true;
    if (rate_ > 0)
      credits_.push_back({c.slot, c.gen});
    else
      send(l, c, 0);
    return c.state == ConnState::kReady;
  }

  void on_turn(Loop& l) override {
    if (rate_ <= 0) {
      if (waiting_.empty() || l.stopping() || l.phase() == Phase::kRamp) return;
      for (Credit w : waiting_)
        if (Conn* c = l.find(w.slot, w.gen); c && c->state == ConnState::kReady) fill(l, *c);
      waiting_.clear();
      return;
    }
    if (l.stopping()) return;
    if (!started_) {
      // The schedule starts with the warmup, once every connection is up.
      if (l.phase() == Phase::kRamp) return;
      started_ = true;
      next_ns_ = double(l.now_ns());
    }
    while (next_ns_ <= double(l.now_ns()) && !credits_.empty()) {
      Credit cr = credits_.front();
      credits_.pop_front();
      Conn* c = l.find(cr.slot, cr.gen);
      if (!c || c->state != ConnState::kReady) continue;  // that session has ended
      // The intended send time, not the actual one: a backlog shows up as latency instead of
      // being hidden (coordinated omission).
      send(l, *c, uint64_t(next_ns_));
      next_ns_ += interval_ns_;
    }
  }

  uint64_t next_wakeup_ns(const Loop& l) const override {
    if (rate_ <= 0 || !started_ || credits_.empty() || l.stopping()) return 0;
    return uint64_t(next_ns_) + 1;
  }

 private:
  struct Credit {
    uint32_t slot, gen;
  };
  std::vector<Credit> waiting_;  // closed loop: ready during the ramp, not started yet

  static uint64_t tag(const Conn& c, uint64_t seq) {
    return (seq * 0x9e3779b97f4a7c15ull) ^ ((uint64_t(c.slot) + 1) << 40) ^ c.gen;
  }

  bool matches(const Conn& c, uint64_t seq, std::span<const uint8_t> p) const {
    size_t head = std::min<size_t>(8, size_);
    uint64_t t = tag(c, seq);
    for (size_t i = 0; i < head; ++i)
      if (p[i] != uint8_t(pattern_[i] ^ uint8_t(t >> (8 * i)))) return false;
    return size_ <= 8 || std::memcmp(p.data() + 8, pattern_.data() + 8, size_ - 8) == 0;
  }

  void send(Loop& l, Conn& c, uint64_t intended_ns) {
    if (!(c.deflate_window ? append_compressed(l, c) : append_plain(l, c))) return;
    c.sent_at[c.next_seq % depth_] = intended_ns;  // 0: stamped when the send is submitted
    ++c.next_seq;
    Counters::add(l.counters().sent_total);
    l.flush(c);
  }

  // The message for c's next sequence number: the pattern with its first bytes tagged.
  void write_tagged(const Conn& c, uint8_t* body) const {
    if (size_) std::memcpy(body, pattern_.data(), size_);
    uint64_t t = tag(c, c.next_seq);
    for (size_t i = 0; i < std::min<size_t>(8, size_); ++i) body[i] ^= uint8_t(t >> (8 * i));
  }

  bool append_plain(Loop& l, Conn& c) {
    size_t hl = client::client_header_size(size_);
    uint8_t* p = c.out.grow(hl + size_);
    if (!p) {
      l.fail(c, "echo", "out of memory");
      return false;
    }
    uint32_t mask = uint32_t(l.random64());
    client::encode_client_header(p, ws::Opcode::kBinary, size_, mask);
    write_tagged(c, p + hl);
    client::mask_bytes(p + hl, size_, mask);
    return true;
  }

  bool append_compressed(Loop& l, Conn& c) {
    write_tagged(c, scratch_.data());
    std::span<const uint8_t> body =
        l.deflater().compress({scratch_.data(), size_}, c.deflate_window);
    if (body.empty()) {  // even an empty message compresses to one byte
      l.fail(c, "echo", "compression failed (out of memory)");
      return false;
    }
    if (!client::append_frame(c.out, ws::Opcode::kBinary, body, uint32_t(l.random64()), true)) {
      l.fail(c, "echo", "out of memory");
      return false;
    }
    return true;
  }

  size_t size_;
  unsigned depth_;
  double rate_;
  double interval_ns_ = 0;
  std::vector<uint8_t> pattern_;
  std::vector<uint8_t> scratch_ = std::vector<uint8_t>(pattern_.size());  // a tagged message
  std::deque<Credit> credits_;
  bool started_ = false;
  double next_ns_ = 0;
};

// connect: sessions are the product. With --reconnect each one closes right after its hello
// and its slot connects again at once (subject to --connect-rate): a reconnect storm.
class ConnectWorkload final : public Workload {
 public:
  explicit ConnectWorkload(bool reconnect) : reconnect_(reconnect) {}
  void on_ready(Loop& l, Conn& c) override {
    if (!reconnect_ || l.stopping()) return;
    l.retry_after(c, 0);
    l.begin_close(c, 1000);
  }

 private:
  bool reconnect_;
};

// idle: hold the sessions; the loop answers pings and watches for silence.
class IdleWorkload final : public Workload {};

}  // namespace

std::unique_ptr<Workload> make_workload(const Options& opt, unsigned thread, unsigned threads,
                                        uint64_t seed) {
  switch (opt.mode) {
    case Mode::kEcho: return std::make_unique<EchoWorkload>(opt, threads, seed);
    case Mode::kConnect: return std::make_unique<ConnectWorkload>(opt.reconnect);
    case Mode::kIdle: return std::make_unique<IdleWorkload>();
    case Mode::kFanout: return make_fanout_workload(opt, thread, threads);
    case Mode::kKeys: break;
  }
  return nullptr;
}

}  // namespace ringway::load
