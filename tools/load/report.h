#pragma once
// The end-of-run summary: one JSON object (--json) or a few lines of text.
#include <cstdint>
#include <map>
#include <string>

namespace ringway::load {

struct Report {
  // The fields every mode prints (0 where a field means nothing for the mode).
  std::string mode;
  uint64_t connections = 0;
  uint64_t depth = 0;
  uint64_t size = 0;
  double duration_s = 0;
  uint64_t messages = 0;
  double msgs_per_s = 0;
  double server_cpu_s = 0;
  double other_cpu_s = 0;  // the --measure-pid processes' CPU time across the window
  double msgs_per_server_cpu_s = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  uint64_t errors = 0;
  uint64_t connects = 0;
  double connects_per_s = 0;
  uint64_t unavailable = 0;
  uint64_t client_rss_kb = 0;
  uint64_t server_rss_kb = 0;
  double server_rss_per_conn_bytes = 0;
  // Extras.
  unsigned threads = 0;
  double rate = 0;
  uint64_t connected = 0;        // sessions up when the measured window began (max for connect)
  double ramp_s = 0;             // echo/idle: time to bring every connection up
  uint64_t server_rss_before_kb = 0;
  uint64_t reconnects = 0, dead = 0, auth_failures = 0, pings = 0;
  uint64_t messages_total = 0, messages_sent = 0, attempts = 0;
  uint64_t bytes_out = 0, bytes_in = 0;
  double connect_p50_us = 0, connect_p99_us = 0, connect_max_us = 0;
  double connects_per_server_cpu_s = 0;
  double client_cpu_s = 0;  // this process's utime+stime across the window
  double msgs_per_client_cpu_s = 0;
  bool direct_descriptors = false;
  bool tls = false;                               // wss://
  uint64_t tls_handshakes = 0, tls_resumed = 0;  // inside the measured window
  // fanout (messages, msgs_per_s and msgs_per_server_cpu_s are its deliveries)
  std::string target;  // ringway | peer
  uint64_t subscribers = 0, subscribed = 0, publishers = 0;
  uint64_t published = 0, publish_ok = 0, publish_refused = 0, delivered_reported = 0;
  uint64_t lost = 0, lost_total = 0;
  std::map<std::string, uint64_t> error_reasons;
};

std::string report_json(const Report& r);
std::string report_text(const Report& r);

}  // namespace ringway::load
