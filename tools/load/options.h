#pragma once
// ringway-load's command line: the mode, the target, the load shape and what to measure.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::load {

// Each mode is a Workload (workload.h) driven by the same per-thread loop.
enum class Mode : uint8_t { kEcho, kConnect, kIdle, kFanout, kKeys };
const char* mode_name(Mode m);
bool parse_mode(std::string_view s, Mode& out);

// fanout: the gateway's channels (authenticated sessions, subscribe/publish requests), or a
// peer broadcast server (plain WebSockets; every message goes to every other connection).
enum class Target : uint8_t { kRingway, kPeer };
bool parse_target(std::string_view s, Target& out);

struct Url {
  bool secure = false;  // wss://
  std::string host;  // as written (for the Host header, with the port; SNI and the name checked)
  uint16_t port = 0;
  std::string path = "/";
  sockaddr_in addr{};  // resolved IPv4 address
  std::string host_header() const { return host + ":" + std::to_string(port); }
};
// ws://HOST[:PORT]/PATH or wss://... with HOST an IPv4 literal or "localhost". Returns "" or
// the error.
std::string parse_url(std::string_view text, Url& out);

// "127.0.0.1-127.0.0.16", "127.0.0.1,127.0.0.2", or a mix. Returns "" or the error.
inline constexpr size_t kMaxSourceAddrs = 65536;
std::string parse_source_addrs(std::string_view text, std::vector<in_addr>& out);

struct Options {
  Mode mode = Mode::kEcho;
  // --url, repeatable (a cluster's nodes): connection g goes to urls[g % n], except fanout's
  // publishers, which all use the first. Empty: ws://127.0.0.1:8080/echo (echo, idle) or /ws.
  std::vector<std::string> url_texts;
  std::vector<Url> urls;
  Url url;  // the first of urls
  unsigned threads = 1;
  uint64_t connections = 0;  // 0: the mode's default (fanout: the subscribers)
  unsigned depth = 1;        // fanout: publishes awaiting their response, per publisher
  bool depth_set = false;
  double rate = 0;           // echo: messages/s in total, 0 = closed loop; fanout: publishes/s
  size_t size = 20;          // fanout: bytes of each publish's JSON data
  bool size_set = false;
  uint64_t duration_ms = 10000;
  uint64_t warmup_ms = 0;
  bool warmup_set = false;
  double connect_rate = 0;   // new connections per second in total; 0 = as fast as possible
  uint64_t max_connecting = 0;  // attempts in progress at once (0: default per mode)
  bool reconnect = false;       // connect: close after each hello and connect again
  bool respect_retry = false;   // honour retryAfterMs of UNAVAILABLE
  std::string keys_file;
  std::vector<std::string> scopes;
  // --server-pid, repeatable: the processes whose CPU time and RSS are the server's (summed).
  std::vector<int> server_pids;
  // --measure-pid, repeatable: other processes (a Redis) whose CPU time over the window is
  // reported on its own (other_cpu_s), not counted as the server's.
  std::vector<int> other_pids;
  std::vector<in_addr> source_addrs;
  bool json = false;
  // --deflate: offer permessage-deflate; where the server accepts, echo messages go compressed
  // (no context takeover) and compressed replies are inflated.
  bool deflate = false;
  // --payload: what echo messages hold: random bytes (incompressible) or JSON text.
  bool json_payload = false;
  uint64_t ping_interval_ms = 30000;  // the echo route's server ping interval (no hello there)
  uint64_t backoff_min_ms = 100;
  uint64_t backoff_max_ms = 30000;
  uint64_t connect_timeout_ms = 10000;  // TCP connect to ready (101, or hello), per attempt
  uint64_t ramp_timeout_ms = 120000;    // echo/idle: how long to wait for all connections
  uint64_t close_timeout_ms = 5000;
  bool direct_descriptors = true;
  // wss://
  std::string ca_file;     // trust these PEM certificates instead of the system's store
  bool insecure = false;   // do not verify the server's certificate
  bool tls_resume = false;  // offer the newest session ticket (resumed handshakes)
  uint64_t seed = 0;  // 0: from the clock
  bool quiet = false;
  // fanout
  Target target = Target::kRingway;
  uint64_t publishers = 1;
  std::string channel = "bench.fanout";
  std::string token;  // the publishers' service token; empty: they are devices (--keys)
  // keys mode
  uint64_t key_count = 0;
  std::string out_keys, out_registry;

  // Every connection the loops open: fanout's publishers come after its subscribers.
  uint64_t total_connections() const {
    return mode == Mode::kFanout ? connections + publishers : connections;
  }
  // fanout: connection g is a publisher from this index on.
  bool is_publisher(uint64_t global_index) const {
    return mode == Mode::kFanout && global_index >= connections;
  }
  // Which of urls connection g uses.
  size_t url_index(uint64_t global_index) const {
    return is_publisher(global_index) ? 0 : size_t(global_index % urls.size());
  }
};

enum class ParseResult { kRun, kExitOk, kExitError };
ParseResult parse_options(int argc, char** argv, Options& o);
// Fills defaults that depend on the mode and checks consistency. Returns "" or the error.
std::string finish_options(Options& o);

}  // namespace ringway::load
