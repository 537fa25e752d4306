#include "ringway/config.h"

#include <charconv>
#include <limits>

namespace ringway {

namespace {

// Splits "123unit" into the number and the unit; false if there is no number or it overflows.
bool split_number(std::string_view text, uint64_t& value, std::string_view& unit) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p == text.data()) return false;
  unit = text.substr(size_t(p - text.data()));
  return true;
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace

std::optional<uint64_t> parse_duration_ms(std::string_view text) {
  uint64_t value;
  std::string_view unit;
  if (!split_number(text, value, unit)) return std::nullopt;
  uint64_t scale;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m" || unit == "min") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit.empty() && value == 0) scale = 1;
  else return std::nullopt;  // a bare number is ambiguous: say the unit
  uint64_t out;
  if (!checked_mul(value, scale, out)) return std::nullopt;
  return out;
}

std::optional<size_t> parse_size(std::string_view text) {
  uint64_t value;
  std::string_view unit;
  if (!split_number(text, value, unit)) return std::nullopt;
  uint64_t scale;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "k" || unit == "K" || unit == "KB" || unit == "KiB") scale = 1ull << 10;
  else if (unit == "m" || unit == "M" || unit == "MB" || unit == "MiB") scale = 1ull << 20;
  else if (unit == "g" || unit == "G" || unit == "GB" || unit == "GiB") scale = 1ull << 30;
  else return std::nullopt;
  uint64_t out;
  if (!checked_mul(value, scale, out)) return std::nullopt;
  return size_t(out);
}

std::string Config::validate() const {
  if (max_message_size < 125) return "--max-message-size must be at least 125 bytes";
  if (max_message_size > (size_t(1) << 30)) return "--max-message-size must be at most 1GiB";
  // A whole echoed message plus its header must fit under the slow-consumer cut-off.
  if (max_buffered > kMaxBufferedLimit) return "--max-buffered must be at most 1GiB";
  if (max_buffered < max_message_size + 16)
    return "--max-buffered must be larger than --max-message-size";
  struct Named {
    const char* flag;
    uint64_t ms;
  };
  for (Named d : {Named{"--handshake-timeout", handshake_timeout_ms},
                  Named{"--connect-timeout", connect_timeout_ms},
                  Named{"--auth-timeout", auth_timeout_ms}, Named{"--ping-interval", ping_interval_ms},
                  Named{"--idle-timeout", effective_idle_timeout_ms()},
                  Named{"--close-timeout", close_timeout_ms},
                  Named{"--message-timeout", message_timeout_ms},
                  Named{"--auth-failure-window", auth_failure_window_ms}})
    if (d.ms > kMaxDurationMs) return std::string(d.flag) + " must be at most 7 days";
  if (handshake_timeout_ms == 0) return "--handshake-timeout must be above 0";
  if (connect_timeout_ms == 0) return "--connect-timeout must be above 0";
  if (auth_timeout_ms == 0) return "--auth-timeout must be above 0";
  if (close_timeout_ms == 0) return "--close-timeout must be above 0";
  uint64_t idle = effective_idle_timeout_ms();
  if (idle != 0 && ping_interval_ms != 0 && idle <= ping_interval_ms)
    return "--idle-timeout must be longer than --ping-interval (a pinged peer needs time to answer)";
  if (recv_buffers == 0 || (recv_buffers & (recv_buffers - 1)) != 0 || recv_buffers > 32768)
    return "--recv-buffers must be a power of two up to 32768";
  if (recv_buffer_size < 512 || recv_buffer_size > (1u << 20))
    return "--recv-buffer-size must be between 512 bytes and 1MiB";
  if (ws_path.empty() || ws_path[0] != '/') return "--ws-path must start with '/'";
  if (tcp_keepalive_idle_s < 0 || tcp_keepalive_interval_s < 0 || tcp_keepalive_count < 0)
    return "TCP keepalive settings must not be negative";
  if (auth_queue == 0) return "--auth-queue must be above 0";
  if (max_unauthenticated_per_address == 0)
    return "--max-unauthenticated-per-address must be above 0";
  if (max_http_per_address == 0) return "--max-http-per-address must be above 0";
  if (max_echo_per_address == 0) return "--max-echo-per-address must be above 0";
  if (ring_entries < 8 || ring_entries > 32768 || (ring_entries & (ring_entries - 1)) != 0)
    return "--ring-entries must be a power of two from 8 to 32768";
  if (mail_ring_entries < 16 || mail_ring_entries > (1u << 20))
    return "--mail-ring-entries must be between 16 and 1048576";
  if (max_subscriptions == 0 || max_subscriptions > 65536)
    return "--max-subscriptions must be between 1 and 65536";
  if (max_publish_size == 0) return "--max-publish-size must be above 0";
  if (request_rate == 0 || request_burst == 0)
    return "--request-rate and --request-burst must be above 0";
  if (request_rate > 1'000'000 || request_burst > 1'000'000)
    return "--request-rate and --request-burst must be at most 1000000";
  if (auth_test_delay_us > 10'000'000) return "--auth-test-delay-us must be at most 10 s";
  if (auth_failure_limit == 0) return "--auth-failure-limit must be above 0";
  if (auth_failure_window_ms == 0) return "--auth-failure-window must be above 0";
  if (log_level != "debug" && log_level != "info" && log_level != "warn" && log_level != "error")
    return "--log-level must be one of debug, info, warn, error";
  if (log_format != "text" && log_format != "json") return "--log-format must be text or json";
  if (drain_spread_ms > kMaxDurationMs) return "--drain-spread must be at most 7 days";
  if (deflate != "off" && deflate != "on" && deflate != "takeover")
    return "--deflate must be off, on or takeover";
  if (deflate_min_size > max_message_size) return "--deflate-min-size must be at most --max-message-size";
  if (state_dir.empty()) return "--state-dir must not be empty";
  if (listen.empty()) return "--listen: at least one address is needed";
  bool tls = false;
  for (const std::string& l : listen) tls |= l.size() > 4 && l.compare(l.size() - 4, 4, ",tls") == 0;
  if (tls && (tls_cert.empty() || tls_key.empty()))
    return "a ,tls listener needs --tls-cert and --tls-key";
  if (bus_partitions == 0 || bus_partitions > 4096)
    return "--bus-partitions must be between 1 and 4096";
  if (bus_history_ttl_ms < 1000) return "--bus-history-ttl must be at least 1s";
  if (node_id.size() > 64 || node_id.find_first_of(" \n{}") != std::string::npos)
    return "--node-id must be at most 64 characters without spaces or braces";
  if (tls_ticket_rotation_ms == 0 || tls_ticket_rotation_ms > kMaxDurationMs)
    return "--tls-ticket-rotation must be above 0 and at most 7 days";
  return {};
}

}  // namespace ringway
