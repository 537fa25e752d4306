#pragma once
// Ringway's settings with their embedded defaults. Every field has a command-line flag; the
// defaults alone give a working gateway on loopback.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringway {

struct Config {
  // Listening
  // Addresses to listen on: "HOST:PORT", or "HOST:PORT,tls" for TLS (wss://, https://).
  std::vector<std::string> listen = {"127.0.0.1:8080"};
  unsigned workers = 0;  // 0: one per available core
  bool echo_route = true;
  std::string ws_path = "/ws";

  // Development mode (the embedded default): with no registry or token file configured, a
  // device key, a registry and a service token are generated into state_dir on first start.
  bool dev = true;
  std::string state_dir = "ringway-dev";

  // Limits
  size_t max_message_size = size_t(1) << 20;
  size_t max_buffered = size_t(4) << 20;  // unsent output per connection before 4003

  // permessage-deflate (docs/deflate.md)
  std::string deflate = "on";                     // off, on (no context takeover), takeover
  size_t deflate_min_size = 256;                  // smaller messages go uncompressed
  size_t deflate_memory_budget = size_t(64) << 20;  // per worker, takeover mode's state

  // Deadlines, milliseconds (see docs/timeouts.md)
  uint64_t handshake_timeout_ms = 10000;
  uint64_t connect_timeout_ms = 10000;
  uint64_t auth_timeout_ms = 5000;
  uint64_t ping_interval_ms = 30000;  // 0: the server never pings
  std::optional<uint64_t> idle_timeout_ms;  // unset: 3 x ping interval; 0: never
  uint64_t close_timeout_ms = 5000;
  uint64_t message_timeout_ms = 30000;  // a started message must finish within this; 0: never
  uint64_t drain_spread_ms = 0;         // 1001 closes spread over this long on SIGTERM

  // Routing (after the hello)
  size_t max_subscriptions = 256;      // per connection; a device's own channel is not counted
  size_t max_publish_size = 65536;     // bytes of a publish's or send's data
  uint32_t request_rate = 100;         // requests per second per connection (sustained)
  uint32_t request_burst = 200;        // and in a burst
  size_t max_idle_channels = 65536;    // per worker: channels kept without subscribers

  // Device identity (gateway route)
  std::string devices_file;         // registry; empty: no device is known
  std::string service_tokens_file;  // empty: no service can connect
  unsigned auth_threads = 0;        // 0: 1 on up to 4 cores, else cores / 4
  size_t auth_queue = 4096;         // verifications waiting; beyond it connects are shed
  uint32_t max_unauthenticated_per_address = 256;
  uint32_t max_http_per_address = 256;     // connections still in the HTTP phase
  uint32_t max_echo_per_address = 16384;   // open /echo WebSockets
  uint32_t auth_failure_limit = 20;          // failed connects per address per window
  uint64_t auth_failure_window_ms = 60000;
  uint64_t auth_test_delay_us = 0;  // test knob: extra time per verification

  // TCP keepalive on accepted sockets (0 = off); for deployments without server pings.
  int tcp_keepalive_idle_s = 0;
  int tcp_keepalive_interval_s = 0;
  int tcp_keepalive_count = 0;

  // io
  bool direct_descriptors = true;
  bool defer_taskrun = true;
  unsigned recv_buffers = 1024;       // per worker, power of two
  unsigned recv_buffer_size = 16384;  // bytes each
  unsigned max_connections_per_worker = 0;  // 0: as many as the descriptor table allows
  unsigned ring_entries = 4096;             // submission queue entries per ring
  unsigned mail_ring_entries = 4096;        // records per (producer, worker) mail ring
  bool msg_ring = true;                     // wake workers with IORING_OP_MSG_RING

  // Several nodes: channels and device messages through Redis (empty: this node alone).
  std::string bus;                 // "redis://HOST:PORT" or "redis+cluster://H1:P1,H2:P2"
  std::string node_id;             // empty: generated at start
  uint32_t bus_partitions = 16;    // channels are grouped into this many Redis pub/sub channels
  uint64_t bus_history_ttl_ms = 7ull * 24 * 3600 * 1000;  // a channel's offsets live this long

  // TLS for ",tls" listeners
  std::string tls_cert;                  // certificate chain (PEM)
  std::string tls_key;                   // its private key (PEM)
  std::vector<std::string> tls_sni;      // more certificates by SNI: "NAME=CERT,KEY"
  uint64_t tls_ticket_rotation_ms = 12 * 3600 * 1000;  // session-ticket key lifetime

  std::string log_level = "info";
  std::string log_format = "text";  // text (key=value) or json

  uint64_t effective_idle_timeout_ms() const {
    return idle_timeout_ms ? *idle_timeout_ms : 3 * ping_interval_ms;
  }
  // Returns an empty string when the settings are consistent, else what is wrong.
  std::string validate() const;
};

// Upper bounds for settings, so that no deadline overflows `now + timeout` and every byte
// counter fits 32 bits.
inline constexpr uint64_t kMaxDurationMs = 7ull * 24 * 3600 * 1000;  // a week
inline constexpr size_t kMaxBufferedLimit = size_t(1) << 30;         // 1 GiB

// "250ms", "10s", "2m", "1h", "0" -> milliseconds. Returns nullopt on bad input.
std::optional<uint64_t> parse_duration_ms(std::string_view text);
// "65536", "64KiB", "1MiB", "1GiB" (also k/K/KB, m/M/MB, g/G/GB as powers of 1024).
std::optional<size_t> parse_size(std::string_view text);

}  // namespace ringway
