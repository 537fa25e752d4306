#pragma once
// ringway-load's command line: the mode, the target, the load shape and what to measure.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::load {

// Each mode is a Workload (workload.h) driven by the same per-thread loop. kPubsub is parsed
// and dispatched but not implemented yet.
enum class Mode : uint8_t { kEcho, kConnect, kIdle, kPubsub, kKeys };
const char* mode_name(Mode m);
bool parse_mode(std::string_view s, Mode& out);

struct Url {
  std::string host;  // as written (for the Host header, with the port)
  uint16_t port = 0;
  std::string path = "/";
  sockaddr_in addr{};  // resolved IPv4 address
  std::string host_header() const { return host + ":" + std::to_string(port); }
};
// ws://HOST[:PORT]/PATH with HOST an IPv4 literal or "localhost". Returns "" or the error.
std::string parse_url(std::string_view text, Url& out);

// "127.0.0.1-127.0.0.16", "127.0.0.1,127.0.0.2", or a mix. Returns "" or the error.
inline constexpr size_t kMaxSourceAddrs = 65536;
std::string parse_source_addrs(std::string_view text, std::vector<in_addr>& out);

struct Options {
  Mode mode = Mode::kEcho;
  std::string url_text;  // empty: ws://127.0.0.1:8080/echo (echo, idle) or /ws (connect)
  Url url;
  unsigned threads = 1;
  uint64_t connections = 0;  // 0: the mode's default
  unsigned depth = 1;
  double rate = 0;           // echo: messages/s in total; 0 = closed loop
  size_t size = 20;
  uint64_t duration_ms = 10000;
  uint64_t warmup_ms = 0;
  bool warmup_set = false;
  double connect_rate = 0;   // new connections per second in total; 0 = as fast as possible
  uint64_t max_connecting = 0;  // attempts in progress at once (0: default per mode)
  bool reconnect = false;       // connect: close after each hello and connect again
  bool respect_retry = false;   // honour retryAfterMs of UNAVAILABLE
  std::string keys_file;
  std::vector<std::string> scopes;
  int server_pid = 0;
  std::vector<in_addr> source_addrs;
  bool json = false;
  uint64_t ping_interval_ms = 30000;  // the echo route's server ping interval (no hello there)
  uint64_t backoff_min_ms = 100;
  uint64_t backoff_max_ms = 30000;
  uint64_t connect_timeout_ms = 10000;  // TCP connect to ready (101, or hello), per attempt
  uint64_t ramp_timeout_ms = 120000;    // echo/idle: how long to wait for all connections
  uint64_t close_timeout_ms = 5000;
  bool direct_descriptors = true;
  uint64_t seed = 0;  // 0: from the clock
  bool quiet = false;
  // keys mode
  uint64_t key_count = 0;
  std::string out_keys, out_registry;
};

enum class ParseResult { kRun, kExitOk, kExitError };
ParseResult parse_options(int argc, char** argv, Options& o);
// Fills defaults that depend on the mode and checks consistency. Returns "" or the error.
std::string finish_options(Options& o);

}  // namespace ringway::load
