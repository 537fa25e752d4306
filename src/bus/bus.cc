#include "bus/bus.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>

#include "bus/slots.h"
#include "bus/wire.h"
#include "common/log.h"

namespace ringway::bus {

namespace {

// Takes the channel's next offset (a new history, under a new epoch, when there is none) and
// publishes "<epoch> <offset> <body>" on the partition; returns {offset, receivers, epoch,
// watchers, self}: receivers are the nodes subscribed to the partition, watchers the nodes in
// the channel's watcher set, self whether this node is one of them.
// KEYS: offset key, epoch key, watcher set. ARGV: partition channel, epoch candidate, body, 's'
// for sharded pub/sub, TTL in ms, node id.
constexpr const char* kPublishScript = R"lua(
local e = redis.call('GET', KEYS[2])
local o = redis.call('GET', KEYS[1])
if (not e) or (not o) then e = ARGV[2]; o = 0 end
o = tonumber(o) + 1
redis.call('SET', KEYS[1], o, 'PX', ARGV[5])
redis.call('SET', KEYS[2], e, 'PX', ARGV[5])
local body = e .. ' ' .. o .. ' ' .. ARGV[3]
local n
if ARGV[4] == 's' then n = redis.call('SPUBLISH', ARGV[1], body) else n = redis.call('PUBLISH', ARGV[1], body) end
return {o, n, e, redis.call('SCARD', KEYS[3]), redis.call('SISMEMBER', KEYS[3], ARGV[6])}
)lua";

// The channel's latest offset and epoch, starting a history (offset 0) if it has none, and this
// node into the channel's watcher set. KEYS: offset key, epoch key, watcher set. ARGV: epoch
// candidate, TTL in ms, node id.
constexpr const char* kWatchScript = R"lua(
local e = redis.call('GET', KEYS[2])
local o = redis.call('GET', KEYS[1])
if (not e) or (not o) then
  e = ARGV[1]; o = 0
  redis.call('SET', KEYS[1], o, 'PX', ARGV[2])
  redis.call('SET', KEYS[2], e, 'PX', ARGV[2])
end
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return {tonumber(o), e}
)lua";

// The channel's keys, all in its partition's hash slot: "rw:{p<n>}:<kind>:<channel>".
std::string channel_key(unsigned partition, char kind, std::string_view channel) {
  std::string k = "rw:{p" + std::to_string(partition) + "}:";
  k.push_back(kind);
  k.push_back(':');
  k.append(channel);
  return k;
}

std::string sha1_hex(std::string_view s) {
  uint8_t d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const uint8_t*>(s.data()), s.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

std::string random_hex(size_t bytes) {
  uint8_t b[16];
  RAND_bytes(b, bytes);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 15]);
  }
  return out;
}

bool is_error(const redisReply* r) { return !r || r->type == REDIS_REPLY_ERROR; }

std::string_view text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

uint64_t number(const redisReply* r) {
  if (!r) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer < 0 ? 0 : uint64_t(r->integer);
  uint64_t v = 0;
  std::string_view t = text(r);
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

// Stable across nodes (unlike the workers' keyed hash): every node must map a channel to the
// same partition.
uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace

struct Bus::Shard {
  Address addr;
  std::unique_ptr<RedisConn> cmd, sub;
  bool up = false;            // both connected and scripts loaded
  uint64_t retry_at_ms = 0;   // when down: next attempt
  uint64_t backoff_ms = 0;
  std::vector<bool> subscribed;   // per partition: the subscription is confirmed
  std::vector<bool> requested;    // per partition: a subscribe was sent
  std::string control;        // this node's probe channel on this shard
  uint64_t probe_seq = 0, probe_acked = 0;
  uint64_t probe_sent_ms = 0;  // of the oldest probe not yet back (0: none outstanding)
  uint64_t next_probe_ms = 0;
  bool ready_reported = false;
};

void dispose(const io::Mail& m) {
  switch (m.kind) {
    case kind::kPublish:
    case kind::kPublished: delete static_cast<Publish*>(m.p); return;
    case kind::kWatch:
    case kind::kUnwatch:
    case kind::kWatched: delete static_cast<Watch*>(m.p); return;
    case kind::kMessage: delete static_cast<Message*>(m.p); return;
    case kind::kResync: delete static_cast<Resync*>(m.p); return;
    default: return;
  }
}

namespace {

size_t scheme_length(const std::string& url) {
  if (url.rfind("redis://", 0) == 0) return 8;
  if (url.rfind("redis+cluster://", 0) == 0) return 16;
  return 0;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= in.size()) return false;
    auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
    if (ec != std::errc() || p != in.data() + i + 3) return false;
    out.push_back(char(v));
    i += 2;
  }
  return true;
}

}  // namespace

std::string redacted_bus_url(const std::string& url) {
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t at = url.rfind('@');
  if (at == std::string::npos || at < start) return url;
  size_t colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) return url;  // a user name only
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

bool parse_bus_url(const std::string& url, Options& out, std::string& err) {
  std::vector<Address>& seeds = out.seeds;
  size_t skip = scheme_length(url);
  if (!skip) {
    err = "expected redis://HOST:PORT or redis+cluster://H1:P1,H2:P2, got '" +
          redacted_bus_url(url) + "'";
    return false;
  }
  out.cluster = skip == 16;
  bool& cluster = out.cluster;
  std::string rest = url.substr(skip);
  out.user.clear();
  out.password.clear();
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    std::string_view info(rest.data(), at);
    size_t colon = info.find(':');
    if (colon == std::string_view::npos) {
      err = "the user information needs a password (USER:PASSWORD@ or :PASSWORD@)";
      return false;
    }
    if (!percent_decode(info.substr(0, colon), out.user) ||
        !percent_decode(info.substr(colon + 1), out.password) || out.password.empty()) {
      err = "bad user or password (percent-encode reserved characters)";
      return false;
    }
    rest = rest.substr(at + 1);
  }
  seeds.clear();
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    std::string hp = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t colon = hp.rfind(':');
    Address a;
    if (colon == std::string::npos) {
      a.host = hp;
    } else {
      a.host = hp.substr(0, colon);
      unsigned port = 0;
      auto [p, ec] = std::from_chars(hp.data() + colon + 1, hp.data() + hp.size(), port);
      if (ec != std::errc() || p != hp.data() + hp.size() || port == 0 || port > 65535) {
        err = "bad port in '" + hp + "'";
        return false;
      }
      a.port = uint16_t(port);
    }
    if (!a.host.empty() && a.host.front() == '[' && a.host.back() == ']')
      a.host = a.host.substr(1, a.host.size() - 2);
    if (a.host.empty()) {
      err = "no host in '" + url + "'";
      return false;
    }
    seeds.push_back(a);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!cluster && seeds.size() != 1) {
    err = "redis:// takes one HOST:PORT (use redis+cluster:// for several)";
    return false;
  }
  return true;
}

Bus::Bus(Options opts) : opts_(std::move(opts)) {
  for (unsigned i = 0; i < opts_.workers; ++i)
    inbound_.push_back(std::make_unique<io::MailRing>(opts_.ring_entries));
  partition_refs_.assign(opts_.partitions, 0);
  waiting_.resize(opts_.partitions);
  undelivered_.resize(opts_.workers);
  publish_sha_ = sha1_hex(kPublishScript);
  watch_sha_ = sha1_hex(kWatchScript);
}

Bus::~Bus() { stop(); }

uint64_t Bus::now() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

unsigned Bus::partition_of(std::string_view channel) const {
  return fnv1a(channel) % opts_.partitions;
}

std::string Bus::partition_channel(unsigned p) const {
  return "rw:{p" + std::to_string(p) + "}";
}

bool Bus::start(std::string& err) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    err = "bus: epoll/eventfd failed";
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  // The first seed; a cluster's real shards come from its CLUSTER SLOTS (and the next seed is
  // tried while the topology is unknown and a seed does not answer).
  auto s = std::make_unique<Shard>();
  s->addr = opts_.seeds.front();
  s->subscribed.assign(opts_.partitions, false);
  s->requested.assign(opts_.partitions, false);
  shards_.push_back(std::move(s));
  slot_owner_.assign(kClusterSlots, 0);
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "rw-bus");
  return true;
}

void Bus::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  wake();
  thread_.join();
  shards_.clear();
  io::Mail m;
  for (auto& r : inbound_)
    while (r->pop(m)) dispose(m);
  for (auto& q : undelivered_)
    for (io::Mail& mm : q) dispose(mm);
  for (auto& q : waiting_)
    for (Watch* w : q) delete w;
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
  wake_fd_ = epoll_fd_ = -1;
}

void Bus::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

bool Bus::send(unsigned worker, const io::Mail& m) {
  if (worker >= inbound_.size() || !inbound_[worker]->push(m)) return false;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_relaxed) && sleeping_.exchange(false)) wake();
  return true;
}

// ---- the loop ----

void Bus::run() {
  for (auto& s : shards_) connect_shard(*s);
  epoll_event events[64];
  while (!stop_.load()) {
    retired_conns_.clear();
    retired_shards_.clear();
    sleeping_.store(true, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool mail = false;
    for (auto& r : inbound_) mail |= !r->empty();
    int timeout = mail || undelivered_count_ ? 0 : 50;  // timers: probes, retries, deadlines
    int n = epoll_wait(epoll_fd_, events, 64, timeout);
    sleeping_.store(false, std::memory_order_relaxed);
    uint64_t t = now();
    for (int i = 0; i < n; ++i) {
      if (!events[i].data.ptr) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &v, sizeof v);
        continue;
      }
      static_cast<RedisConn*>(events[i].data.ptr)->on_events(events[i].events, t);
    }
    drain_inbound();
    flush_undelivered();
    tick();
  }
}

void Bus::drain_inbound() {
  io::Mail m;
  for (auto& r : inbound_)
    for (int budget = 4096; budget-- > 0 && r->pop(m);) handle(m);
}

void Bus::handle(const io::Mail& m) {
  switch (m.kind) {
    case kind::kPublish: publish(static_cast<Publish*>(m.p)); return;
    case kind::kWatch: watch(static_cast<Watch*>(m.p)); return;
    case kind::kUnwatch: unwatch(static_cast<Watch*>(m.p)); return;
    default: dispose(m); return;
  }
}

void Bus::deliver(unsigned worker, const io::Mail& m) {
  // In order per worker: once one waits, the rest wait behind it.
  if (undelivered_[worker].empty() && opts_.to_worker(worker, m)) return;
  if (undelivered_count_ >= opts_.max_undelivered) {
    ++stats_.messages_dropped;
    LOG_PEER(kWarn, "bus: worker %u is not taking records; dropping one", worker);
    dispose(m);
    return;
  }
  undelivered_[worker].push_back(m);
  ++undelivered_count_;
}

void Bus::flush_undelivered() {
  if (!undelivered_count_) return;
  for (unsigned w = 0; w < undelivered_.size(); ++w) {
    auto& q = undelivered_[w];
    while (!q.empty() && opts_.to_worker(w, q.front())) {
      q.pop_front();
      --undelivered_count_;
    }
  }
}

// ---- shards ----

Bus::Shard* Bus::shard_for_partition(unsigned p) {
  if (shards_.empty()) return nullptr;
  if (!opts_.cluster) return shards_.front().get();
  unsigned owner = slot_owner_[key_slot(partition_channel(p))];
  return owner < shards_.size() ? shards_[owner].get() : nullptr;
}

void Bus::connect_shard(Shard& s) {
  uint64_t t = now();
  s.up = false;
  s.ready_reported = false;
  s.cmd = std::make_unique<RedisConn>(s.addr, epoll_fd_);
  s.sub = std::make_unique<RedisConn>(s.addr, epoll_fd_);
  s.sub->set_push_handler([this, &s](redisReply* r) { on_push(s, r); });
  std::fill(s.subscribed.begin(), s.subscribed.end(), false);
  std::fill(s.requested.begin(), s.requested.end(), false);
  s.probe_sent_ms = 0;
  s.probe_acked = s.probe_seq;
  if (!s.cmd->connect(t, opts_.connect_timeout_ms) || !s.sub->connect(t, opts_.connect_timeout_ms)) {
    shard_down(s, s.cmd->broken() ? s.cmd->error() : s.sub->error());
    return;
  }
  if (!opts_.password.empty()) {
    // First on each connection; a refusal takes the shard down (and is retried with backoff,
    // in case the password is being rotated on the server).
    std::vector<std::string> auth = {"AUTH"};
    if (!opts_.user.empty()) auth.push_back(opts_.user);
    auth.push_back(opts_.password);
    auto check = [this, &s](redisReply* r) {
      if (r && r->type == REDIS_REPLY_ERROR)
        shard_down(s, "AUTH refused: " + std::string(text(r)));
    };
    s.cmd->command(auth, check);
    s.sub->command(auth, check);
  }
  // Scripts first; then, with both connections up, the subscriptions (on_shard_ready).
  s.cmd->command({"SCRIPT", "LOAD", kPublishScript}, [](redisReply*) {});
  s.cmd->command({"SCRIPT", "LOAD", kWatchScript}, [this, &s](redisReply* r) {
    if (is_error(r)) {
      shard_down(s, r ? std::string(text(r)) : "connection lost while loading scripts");
      return;
    }
    if (opts_.cluster && !topology_known_) {
      refresh_slots();  // it brings every shard up
      return;
    }
    on_shard_ready(s);
  });
}

void Bus::on_shard_ready(Shard& s) {
  if (s.up) return;
  s.up = true;
  s.backoff_ms = 0;
  ++stats_.connected_shards;
  LOG_INFO("bus: connected to %s", s.addr.text().c_str());
  // This node's probe channel on this shard: in a cluster it must hash to one of the shard's
  // slots, so a tag is searched for that lands there.
  size_t index = 0;
  while (index < shards_.size() && shards_[index].get() != &s) ++index;
  std::string base = "rw:ctl:" + opts_.node_id;
  s.control = base;
  if (opts_.cluster) {
    for (unsigned k = 0; k < 100000; ++k) {
      std::string c = "rw:{c" + std::to_string(k) + "}:ctl:" + opts_.node_id;
      if (slot_owner_[key_slot(c)] == index) {
        s.control = c;
        break;
      }
    }
  }
  const char* sub_cmd = opts_.cluster ? "SSUBSCRIBE" : "SUBSCRIBE";
  s.sub->command_push({sub_cmd, s.control});
  for (unsigned p = 0; p < opts_.partitions; ++p) {
    if (partition_refs_[p] && shard_for_partition(p) == &s) {
      s.sub->command_push({sub_cmd, partition_channel(p)});
      s.requested[p] = true;
    }
  }
  s.next_probe_ms = now();
  // What the workers know of these partitions' channels may be stale (Redis may have restarted
  // empty), and channels they could not watch while the bus was down can be watched now.
  ++stats_.resyncs;
  for (unsigned w = 0; w < opts_.workers; ++w) {
    auto* r = new Resync;
    r->partitions.assign(opts_.partitions, false);
    for (unsigned p = 0; p < opts_.partitions; ++p) r->partitions[p] = shard_for_partition(p) == &s;
    io::Mail m;
    m.kind = kind::kResync;
    m.p = r;
    deliver(w, m);
  }
}

void Bus::shard_down(Shard& s, const std::string& why) {
  if (s.up) stats_.connected_shards.set(stats_.connected_shards.get() - 1);
  bool was_up = s.up || s.retry_at_ms == 0;
  s.up = false;
  s.backoff_ms = std::min(opts_.backoff_max_ms, std::max(opts_.backoff_min_ms, s.backoff_ms * 2));
  // Full jitter on the delay, so nodes that lost one Redis together do not return together.
  uint32_t r = 0;
  RAND_bytes(reinterpret_cast<uint8_t*>(&r), sizeof r);
  s.retry_at_ms = now() + opts_.backoff_min_ms / 2 + r % (s.backoff_ms + 1);
  if (was_up) LOG_WARN("bus: %s is down (%s); retrying", s.addr.text().c_str(), why.c_str());
  healthy_.store(false);
  // Watches waiting for a subscription on this shard cannot be answered now.
  for (unsigned p = 0; p < opts_.partitions; ++p) {
    if (shard_for_partition(p) != &s) continue;
    while (!waiting_[p].empty()) {
      Watch* w = waiting_[p].front();
      waiting_[p].pop_front();
      w->ok = false;
      io::Mail m;
      m.kind = kind::kWatched;
      m.p = w;
      deliver(w->reply_worker, m);
    }
  }
  std::unique_ptr<RedisConn> cmd = std::move(s.cmd), sub = std::move(s.sub);
  if (cmd) cmd->fail(why);  // fails its waiting callbacks (publishes answer UNAVAILABLE)
  if (sub) sub->fail(why);
  if (cmd) retired_conns_.push_back(std::move(cmd));
  if (sub) retired_conns_.push_back(std::move(sub));
  if (opts_.cluster && !topology_known_ && opts_.seeds.size() > 1) {
    next_seed_ = (next_seed_ + 1) % opts_.seeds.size();
    s.addr = opts_.seeds[next_seed_];
  }
}

void Bus::refresh_slots() {
  // CLUSTER SLOTS from the first shard whose command connection is up.
  Shard* from = nullptr;
  for (auto& s : shards_)
    if (s->cmd && s->cmd->connected()) {
      from = s.get();
      break;
    }
  if (!from) return;
  from->cmd->command({"CLUSTER", "SLOTS"}, [this](redisReply* r) {
    if (is_error(r) || r->type != REDIS_REPLY_ARRAY) {
      LOG_WARN("bus: CLUSTER SLOTS failed: %s", r ? std::string(text(r)).c_str() : "no reply");
      return;
    }
    std::vector<Address> masters;
    std::vector<uint16_t> owner(kClusterSlots, 0xffff);
    for (size_t i = 0; i < r->elements; ++i) {
      redisReply* range = r->element[i];
      if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
      unsigned lo = unsigned(number(range->element[0])), hi = unsigned(number(range->element[1]));
      redisReply* master = range->element[2];
      if (master->type != REDIS_REPLY_ARRAY || master->elements < 2) continue;
      Address a{std::string(text(master->element[0])), uint16_t(number(master->element[1]))};
      size_t idx = 0;
      while (idx < masters.size() && (masters[idx].host != a.host || masters[idx].port != a.port))
        ++idx;
      if (idx == masters.size()) masters.push_back(a);
      for (unsigned sl = lo; sl <= hi && sl < kClusterSlots; ++sl) owner[sl] = uint16_t(idx);
    }
    // Keep the shards that still exist (by address); make the new ones.
    std::vector<std::unique_ptr<Shard>> next;
    for (const Address& a : masters) {
      std::unique_ptr<Shard> kept;
      for (auto& s : shards_)
        if (s && s->addr.host == a.host && s->addr.port == a.port) kept = std::move(s);
      if (!kept) {
        kept = std::make_unique<Shard>();
        kept->addr = a;
        kept->subscribed.assign(opts_.partitions, false);
        kept->requested.assign(opts_.partitions, false);
      }
      next.push_back(std::move(kept));
    }
    // Shards no longer masters go; freeing waits for the next loop iteration (this callback
    // runs inside one of their connections).
    for (auto& s : shards_)
      if (s) {
        if (s->up) stats_.connected_shards.set(stats_.connected_shards.get() - 1);
        s->up = false;
        if (s->cmd) s->cmd->fail("no longer a master");
        if (s->sub) s->sub->fail("no longer a master");
        retired_shards_.push_back(std::move(s));
      }
    shards_ = std::move(next);
    slot_owner_.swap(owner);
    topology_known_ = true;
    for (auto& s : shards_) {
      if (!s->cmd || s->cmd->broken() || !s->sub || s->sub->broken())
        connect_shard(*s);  // its SCRIPT LOAD brings it up
      else if (!s->up)
        on_shard_ready(*s);
    }
  });
}

// ---- publish, watch ----

void Bus::publish(Publish* p) {
  unsigned part = partition_of(p->channel);
  Shard* s = shard_for_partition(part);
  auto answer = [this](Publish* job, bool ok) {
    job->ok = ok;
    (ok ? stats_.published : stats_.publish_failed) += 1;
    io::Mail m;
    m.kind = kind::kPublished;
    m.p = job;
    deliver(job->reply_worker, m);
  };
  if (!s || !s->up) {
    answer(p, false);
    return;
  }
  std::string body = format_body(p->channel, p->from, p->data);
  std::vector<std::string> args = {"3", channel_key(part, 'o', p->channel),
                                   channel_key(part, 'e', p->channel),
                                   channel_key(part, 'w', p->channel), partition_channel(part),
                                   opts_.node_id + "-" + random_hex(6), std::move(body),
                                   opts_.cluster ? "s" : "p", std::to_string(opts_.history_ttl_ms),
                                   opts_.node_id};
  Shard* shard = s;
  // The other nodes that got it: those subscribed to the partition (a node that crashed is not)
  // and in the channel's watcher set (a node watching only other channels of the partition is
  // not); the smaller of the two, without this node.
  auto take = [answer, shard, part](Publish* job, redisReply* r) {
    if (is_error(r) || r->type != REDIS_REPLY_ARRAY || r->elements < 5) {
      if (r && r->type == REDIS_REPLY_ERROR)
        LOG_PEER(kWarn, "bus: publish failed: %.*s", int(r->len), r->str);
      answer(job, false);
      return;
    }
    job->offset = number(r->element[0]);
    uint64_t receivers = number(r->element[1]), watchers = number(r->element[3]);
    bool self_watcher = number(r->element[4]) != 0;
    bool self_receiver = shard->subscribed.size() > part && shard->subscribed[part];
    if (self_receiver && receivers) --receivers;
    if (self_watcher && watchers) --watchers;
    job->receivers = std::min(receivers, watchers);
    job->epoch = std::string(text(r->element[2]));
    answer(job, true);
  };
  script(*s, publish_sha_, kPublishScript, std::move(args), [this, p, take](redisReply* r) {
    if (r && r->type == REDIS_REPLY_ERROR && text(r).rfind("MOVED", 0) == 0) {
      topology_known_ = false;
      refresh_slots();
    }
    take(p, r);
  });
}

void Bus::script(Shard& s, const std::string& sha, const char* body,
                 std::vector<std::string> args, RedisConn::Callback cb) {
  // By its digest (loaded when the shard connected); a server that lost it (SCRIPT FLUSH) gets
  // the body once.
  std::vector<std::string> argv = {"EVALSHA", sha};
  argv.insert(argv.end(), args.begin(), args.end());
  Shard* shard = &s;
  s.cmd->command(argv, [shard, body, argv, cb = std::move(cb)](redisReply* r) mutable {
    if (r && r->type == REDIS_REPLY_ERROR && text(r).rfind("NOSCRIPT", 0) == 0 && shard->cmd &&
        shard->cmd->connected()) {
      argv[0] = "EVAL";
      argv[1] = body;
      shard->cmd->command(argv, std::move(cb));
      return;
    }
    cb(r);
  });
}

void Bus::watch(Watch* w) {
  ++stats_.watches;
  unsigned p = partition_of(w->channel);
  if (!w->again && partition_refs_[p]++ == 0) stats_.watched_partitions += 1;
  Shard* s = shard_for_partition(p);
  if (!s || !s->up) {
    w->ok = false;
    io::Mail m;
    m.kind = kind::kWatched;
    m.p = w;
    if (!w->again && --partition_refs_[p] == 0)
      stats_.watched_partitions.set(stats_.watched_partitions.get() - 1);
    deliver(w->reply_worker, m);
    return;
  }
  if (s->subscribed[p]) {
    answer_watch(*s, w);
    return;
  }
  waiting_[p].push_back(w);
  if (!s->requested[p]) {
    s->requested[p] = true;
    s->sub->command_push({opts_.cluster ? "SSUBSCRIBE" : "SUBSCRIBE", partition_channel(p)});
  }
}

void Bus::answer_watch(Shard& s, Watch* w) {
  // Asked only once the partition's subscription is confirmed: every message with a later
  // offset reaches this node (docs/cluster.md).
  unsigned p = partition_of(w->channel);
  script(s, watch_sha_, kWatchScript,
         {"3", channel_key(p, 'o', w->channel), channel_key(p, 'e', w->channel),
          channel_key(p, 'w', w->channel), opts_.node_id + "-" + random_hex(6),
          std::to_string(opts_.history_ttl_ms), opts_.node_id},
                 [this, w](redisReply* r) {
                   w->ok = !is_error(r) && r->type == REDIS_REPLY_ARRAY && r->elements >= 2;
                   if (w->ok) {
                     w->offset = number(r->element[0]);
                     w->epoch = std::string(text(r->element[1]));
                   }
                   io::Mail m;
                   m.kind = kind::kWatched;
                   m.p = w;
                   deliver(w->reply_worker, m);
                 });
}

void Bus::unwatch(Watch* w) {
  unsigned p = partition_of(w->channel);
  Shard* owner = shard_for_partition(p);
  if (owner && owner->up)  // out of the watcher set (it expires anyway if this fails)
    owner->cmd->command({"SREM", channel_key(p, 'w', w->channel), opts_.node_id},
                        [](redisReply*) {});
  delete w;
  if (partition_refs_[p] == 0) return;
  if (--partition_refs_[p] != 0) return;
  stats_.watched_partitions.set(stats_.watched_partitions.get() - 1);
  Shard* s = shard_for_partition(p);
  if (s && s->sub && s->sub->connected() && s->requested[p]) {
    s->sub->command_push({opts_.cluster ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", partition_channel(p)});
  }
  if (s) {
    s->requested[p] = false;
    s->subscribed[p] = false;
  }
}

// ---- what Redis pushes ----

void Bus::on_push(Shard& s, redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  std::string_view what = text(r->element[0]);
  std::string_view channel = text(r->element[1]);
  if (what == "message" || what == "smessage") {
    on_message(s, channel, text(r->element[2]));
    return;
  }
  if (what == "subscribe" || what == "ssubscribe") {
    for (unsigned p = 0; p < opts_.partitions; ++p) {
      if (channel != partition_channel(p)) continue;
      if (!s.requested[p]) return;  // unwatched meanwhile
      s.subscribed[p] = true;
      while (!waiting_[p].empty()) {
        Watch* w = waiting_[p].front();
        waiting_[p].pop_front();
        answer_watch(s, w);
      }
      return;
    }
  }
}

void Bus::on_message(Shard& s, std::string_view channel, std::string_view body) {
  if (channel == s.control) {
    // "ctl <seq>": our own probe came back.
    uint64_t seq = 0;
    if (body.size() > 4) std::from_chars(body.data() + 4, body.data() + body.size(), seq);
    if (seq > s.probe_acked) {
      s.probe_acked = seq;
      ++stats_.probes_returned;
      if (s.probe_acked == s.probe_seq) s.probe_sent_ms = 0;
    }
    return;
  }
  auto* m = new Message;
  if (!parse_message(body, opts_.max_data, *m)) {
    delete m;
    ++stats_.messages_malformed;
    LOG_PEER(kWarn, "bus: a malformed message on %.*s (%zu bytes) dropped", int(channel.size()),
             channel.data(), body.size());
    return;
  }
  ++stats_.messages_in;
  io::Mail mail;
  mail.kind = kind::kMessage;
  mail.p = m;
  deliver(opts_.sequencer_of(m->channel), mail);
}

// ---- timers: connects, retries, probes ----

void Bus::probe(Shard& s) {
  ++s.probe_seq;
  ++stats_.probes_sent;
  if (!s.probe_sent_ms) s.probe_sent_ms = now();
  s.cmd->command({opts_.cluster ? "SPUBLISH" : "PUBLISH", s.control,
                  "ctl " + std::to_string(s.probe_seq)},
                 [](redisReply*) {});
}

void Bus::tick() {
  uint64_t t = now();
  bool healthy = !shards_.empty();
  for (auto& sp : shards_) {
    Shard& s = *sp;
    if (s.cmd) s.cmd->on_timer(t);
    if (s.sub) s.sub->on_timer(t);
    bool broken = !s.cmd || !s.sub || s.cmd->broken() || s.sub->broken();
    if (broken) {
      if (s.cmd || s.sub)
        shard_down(s, s.cmd && s.cmd->broken() ? s.cmd->error()
                      : s.sub && s.sub->broken() ? s.sub->error()
                                                 : "closed");
      if (t >= s.retry_at_ms) {
        ++stats_.reconnects;
        connect_shard(s);
      }
      healthy = false;
      continue;
    }
    if (!s.up) {
      healthy = false;
      continue;
    }
    if (t >= s.next_probe_ms) {
      s.next_probe_ms = t + opts_.liveness_interval_ms;
      probe(s);
    }
    if (s.probe_sent_ms && t - s.probe_sent_ms > opts_.liveness_timeout_ms) {
      // Delivery stopped without the connection saying so: start over on this shard.
      ++stats_.unhealthy_periods;
      LOG_WARN("bus: probes to %s have not come back for %llu ms; reconnecting",
               s.addr.text().c_str(), static_cast<unsigned long long>(t - s.probe_sent_ms));
      shard_down(s, "liveness probe lost");
      healthy = false;
      continue;
    }
    if (s.probe_acked == 0) healthy = false;  // not proven yet
    for (unsigned p = 0; p < opts_.partitions && healthy; ++p)
      if (s.requested[p] && !s.subscribed[p]) healthy = false;  // a subscription on its way
  }
  healthy_.store(healthy, std::memory_order_relaxed);
  stats_.healthy.set(healthy ? 1 : 0);
  stats_.undelivered.set(undelivered_count_);
}

}  // namespace ringway::bus
