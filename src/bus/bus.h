#pragma once
// The link to Redis that lets several gateway nodes share channels and device messages. It runs
// on its own thread with its own epoll loop, never on a ring: workers hand it records through
// bounded SPSC rings (a full ring is backpressure the worker sees) and it hands records back
// through the workers' mail hub.
//
// What Redis holds and does (docs/cluster.md): channels are grouped into a fixed number of
// partitions; a partition is one pub/sub channel (`rw:{p<n>}`, sharded pub/sub on a Redis
// Cluster) that a node subscribes to while any local subscriber is on one of its channels. A
// publish is one script on the partition's shard that takes the channel's next offset (and its
// epoch, made when the history starts or was lost) and publishes the message with them, so every
// node sees one order per channel and comparable offsets. Offsets and epochs expire with the
// history TTL. Delivery is at most once: a node that is not connected when a message is
// published does not get it (its subscribers see the offset gap), and a publish that cannot
// reach Redis is refused to its publisher.
//
// Liveness is checked, not assumed: every second the bus publishes a probe on each shard's
// control channel and expects it back; a probe that does not come back in time marks the bus
// unhealthy and resubscribes.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bus/redis_conn.h"
#include "common/counter.h"
#include "io/mail.h"

namespace ringway::bus {

// Mail kinds the bus uses (the gateway's are below 100).
namespace kind {
inline constexpr uint32_t kPublish = 100;    // to the bus; p: Publish*
inline constexpr uint32_t kWatch = 101;      // to the bus; p: Watch*
inline constexpr uint32_t kUnwatch = 102;    // to the bus; p: Watch* (no answer)
inline constexpr uint32_t kPublished = 110;  // to a worker; p: Publish* (answered)
inline constexpr uint32_t kWatched = 111;    // to a worker; p: Watch* (answered)
inline constexpr uint32_t kMessage = 112;    // to a worker; p: Message*
inline constexpr uint32_t kResync = 113;     // to every worker; p: Resync*
}  // namespace kind

struct Publish {
  std::string channel, from, data;
  void* cookie = nullptr;      // the worker's own job, handed back
  uint32_t reply_worker = 0;
  // The answer.
  bool ok = false;
  uint64_t offset = 0, receivers = 0;  // receivers: other nodes that watch the channel and got it
  std::string epoch;
};

struct Watch {
  std::string channel;
  uint32_t reply_worker = 0;
  // A channel already watched asks again for its offset and epoch (after a reconnect, which may
  // have lost Redis's data): the partition's count of watched channels does not change.
  bool again = false;
  bool ok = false;
  uint64_t offset = 0;
  std::string epoch;
};

struct Message {
  std::string channel, from, data, epoch;
  uint64_t offset = 0;
};

// A shard came (back) up and its partitions are being subscribed again: what a worker knows of
// their channels' offsets and epochs may be stale, and channels it could not watch while the bus
// was down can be watched now.
struct Resync {
  std::vector<bool> partitions;  // the partitions this shard serves
};

void dispose(const io::Mail& m);

struct Options {
  std::vector<Address> seeds;  // one server, or the cluster's seed nodes
  bool cluster = false;
  std::string user, password;  // AUTH on every connection when a password is set
  std::string node_id;
  unsigned partitions = 16;
  uint64_t history_ttl_ms = 7ull * 24 * 3600 * 1000;
  uint64_t liveness_interval_ms = 1000, liveness_timeout_ms = 3000;
  uint64_t connect_timeout_ms = 2000, backoff_min_ms = 100, backoff_max_ms = 5000;
  unsigned workers = 1;
  size_t ring_entries = 4096;
  size_t max_undelivered = 65536;  // records for workers held while their rings are full
  size_t max_data = 64 * 1024;     // largest data accepted from Redis (what a subscriber can take)
  std::function<unsigned(std::string_view channel)> sequencer_of;  // the worker for a channel
  std::function<bool(unsigned worker, const io::Mail& m)> to_worker;  // false: ring full
};

// "redis://[[USER]:PASSWORD@]HOST:PORT" or "redis+cluster://[[USER]:PASSWORD@]H1:P1,H2:P2"
// (user and password percent-encoded). False with a reason.
bool parse_bus_url(const std::string& url, Options& out, std::string& err);
// The URL with its password replaced by "***", for logs.
std::string redacted_bus_url(const std::string& url);

struct Stats {
  Counter published, publish_failed, messages_in, messages_dropped, messages_malformed;
  Counter watches, reconnects;
  Counter probes_sent, probes_returned, unhealthy_periods, resyncs;
  // Gauges.
  Counter connected_shards, watched_partitions, undelivered, healthy;
};

class Bus {
 public:
  explicit Bus(Options opts);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  bool start(std::string& err);
  void stop();
  // From worker `worker`'s thread. False when its ring to the bus is full (nothing queued).
  bool send(unsigned worker, const io::Mail& m);
  // Every shard connected and every recent probe back in time.
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  const Stats& stats() const { return stats_; }
  const Options& options() const { return opts_; }
  unsigned partition_of(std::string_view channel) const;

 private:
  struct Shard;
  void run();
  void wake();
  void drain_inbound();
  void handle(const io::Mail& m);
  void publish(Publish* p);
  void watch(Watch* w);
  void unwatch(Watch* w);
  void answer_watch(Shard& s, Watch* w);
  void script(Shard& s, const std::string& sha, const char* body, std::vector<std::string> args,
              RedisConn::Callback cb);
  void on_push(Shard& s, redisReply* r);
  void on_message(Shard& s, std::string_view channel, std::string_view body);
  void deliver(unsigned worker, const io::Mail& m);
  void flush_undelivered();
  void connect_shard(Shard& s);
  void on_shard_ready(Shard& s);
  void shard_down(Shard& s, const std::string& why);
  void tick();
  void probe(Shard& s);
  void refresh_slots();
  Shard* shard_for_partition(unsigned p);
  std::string partition_channel(unsigned p) const;
  uint64_t now() const;

  Options opts_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> healthy_{false};
  std::vector<std::unique_ptr<io::MailRing>> inbound_;  // one per worker
  std::vector<std::unique_ptr<Shard>> shards_;
  // Connections and shards given up inside one of their own callbacks: freed at the top of the
  // next loop iteration, when nothing of theirs is on the stack.
  std::vector<std::unique_ptr<RedisConn>> retired_conns_;
  std::vector<std::unique_ptr<Shard>> retired_shards_;
  bool topology_known_ = false;  // cluster: CLUSTER SLOTS has been read
  size_t next_seed_ = 0;         // cluster: the seed to try next while the topology is unknown
  std::vector<uint16_t> slot_owner_;  // cluster: slot -> shard index
  std::vector<uint32_t> partition_refs_;  // watched channels per partition
  std::vector<std::deque<Watch*>> waiting_;  // watches until their partition is subscribed
  std::vector<std::deque<io::Mail>> undelivered_;  // per worker, while its ring is full
  size_t undelivered_count_ = 0;
  std::string publish_sha_, watch_sha_;
  Stats stats_;
};

}  // namespace ringway::bus
