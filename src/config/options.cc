#include "config/options.h"

#include <array>
#include <charconv>
#include <limits>

namespace ringway::config {

namespace {

using C = Config;

// The table. Order is the order of docs/configuration.md and of `check-config`.
const std::array kOptions = {
    // -- listening and routes
    Option{"listen", "listen", Kind::kStringList, &C::listen,
           "Address to listen on, HOST:PORT or [V6]:PORT (port 0 picks one), with ,tls for TLS; "
           "give it several times for several listeners",
           false},
    Option{"workers", "workers", Kind::kUint, &C::workers,
           "Worker threads, one ring each (0: one per core)", false},
    Option{"routes.echo", "no-echo", Kind::kBool, &C::echo_route, "Serve the /echo route", false},
    Option{"routes.ws_path", "ws-path", Kind::kString, &C::ws_path,
           "Path of the gateway-protocol route", false},
    // -- development mode and state
    Option{"dev", "no-dev", Kind::kBool, &C::dev,
           "Development mode when no registry or token file is configured: a device key, a "
           "registry and a service token generated into the state directory, and browser "
           "sign-up at /v1/dev/register",
           false},
    Option{"state_dir", "state-dir", Kind::kString, &C::state_dir,
           "Where development mode keeps its generated key, registry and token", false},
    // -- limits
    Option{"limits.max_message_size", "max-message-size", Kind::kSize, &C::max_message_size,
           "Largest WebSocket message accepted; larger closes with 1009", true},
    Option{"limits.max_buffered", "max-buffered", Kind::kSize, &C::max_buffered,
           "Unsent output per connection before it is closed 4003 slow consumer", true},
    Option{"limits.max_http_per_address", "max-http-per-address", Kind::kUint,
           &C::max_http_per_address,
           "Connections one address may hold before its request is answered (HTTP phase)",
           false},
    Option{"limits.max_echo_per_address", "max-echo-per-address", Kind::kUint,
           &C::max_echo_per_address, "Open /echo WebSockets one address may hold", false},
    Option{"limits.max_unauthenticated_per_address", "max-unauthenticated-per-address",
           Kind::kUint, &C::max_unauthenticated_per_address,
           "Gateway-route connections one address may hold before they finish auth, and /status "
           "watchers",
           false},
    Option{"limits.max_subscriptions", "max-subscriptions", Kind::kUint, &C::max_subscriptions,
           "Channels one connection may subscribe to (a device's own channel not counted)", true},
    Option{"limits.max_publish_size", "max-publish-size", Kind::kSize, &C::max_publish_size,
           "Largest data of a publish or send", true},
    Option{"limits.request_rate", "request-rate", Kind::kUint, &C::request_rate,
           "Requests per second one connection may make after the hello (over it: "
           "UNAVAILABLE with retryAfterMs)",
           true},
    Option{"limits.request_burst", "request-burst", Kind::kUint, &C::request_burst,
           "Requests one connection may make at once", true},
    Option{"limits.max_idle_channels", "max-idle-channels", Kind::kUint, &C::max_idle_channels,
           "Channels without subscribers whose offsets a worker keeps (older ones restart "
           "under a new epoch)",
           false},
    // -- compression
    Option{"deflate.mode", "deflate", Kind::kString, &C::deflate,
           "permessage-deflate (RFC 7692): off; on (no context takeover either way: no "
           "compression state between messages); takeover (context kept per connection within "
           "deflate.memory_budget)",
           false},
    Option{"deflate.min_size", "deflate-min-size", Kind::kSize, &C::deflate_min_size,
           "Messages shorter than this are sent uncompressed", false},
    Option{"deflate.memory_budget", "deflate-memory-budget", Kind::kSize,
           &C::deflate_memory_budget,
           "takeover mode: compression state all connections of a worker may keep; beyond it new "
           "connections get no context takeover",
           false},
    // -- deadlines
    Option{"timeouts.handshake", "handshake-timeout", Kind::kDuration, &C::handshake_timeout_ms,
           "TCP accept until the 101 is sent (and the keep-alive wait between HTTP API "
           "requests); then TCP is closed",
           true},
    Option{"timeouts.connect", "connect-timeout", Kind::kDuration, &C::connect_timeout_ms,
           "101 until a well-formed connect request is parsed on the gateway route", true},
    Option{"timeouts.auth", "auth-timeout", Kind::kDuration, &C::auth_timeout_ms,
           "Connect request parsed until verification is applied", true},
    Option{"timeouts.ping_interval", "ping-interval", Kind::kDuration, &C::ping_interval_ms,
           "Silence from the peer after which the server pings; 0 disables pings", true},
    Option{"timeouts.idle", "idle-timeout", Kind::kOptionalDuration, &C::idle_timeout_ms,
           "Silence after which the connection is closed 4002; 0 disables (default 3x the ping "
           "interval)",
           true},
    Option{"timeouts.close", "close-timeout", Kind::kDuration, &C::close_timeout_ms,
           "After the server's close frame, how long to wait for the peer's", true},
    Option{"timeouts.message", "message-timeout", Kind::kDuration, &C::message_timeout_ms,
           "A WebSocket message that has started must finish within this, else close 1008; 0 "
           "disables",
           true},
    Option{"timeouts.drain_spread", "drain-spread", Kind::kDuration, &C::drain_spread_ms,
           "On SIGTERM, spread the 1001 closes over this long so clients do not reconnect in "
           "one burst (0: all at once)",
           true},
    // -- identity
    Option{"auth.devices", "devices", Kind::kString, &C::devices_file,
           "Device registry: lines of '<base64url public key> [scope,scope...]'", true},
    Option{"auth.service_tokens", "service-tokens", Kind::kString, &C::service_tokens_file,
           "Service tokens: lines of '<name> <hex SHA-256 of token> [scope,scope...]'", true},
    Option{"auth.threads", "auth-threads", Kind::kUint, &C::auth_threads,
           "Verifier threads (0: 1 per 4 cores, at least 1)", false},
    Option{"auth.queue", "auth-queue", Kind::kUint, &C::auth_queue,
           "Connect requests waiting for a verifier before shedding", false},
    Option{"auth.failure_limit", "auth-failure-limit", Kind::kUint, &C::auth_failure_limit,
           "Failed connects per address per window before UNAVAILABLE", false},
    Option{"auth.failure_window", "auth-failure-window", Kind::kDuration,
           &C::auth_failure_window_ms, "Window for auth.failure_limit", false},
    // -- TCP
    Option{"tcp.keepalive_idle", "tcp-keepalive-idle", Kind::kInt, &C::tcp_keepalive_idle_s,
           "Seconds of TCP idleness before keepalive probes (0: off)", false},
    Option{"tcp.keepalive_interval", "tcp-keepalive-interval", Kind::kInt,
           &C::tcp_keepalive_interval_s, "Seconds between TCP keepalive probes", false},
    Option{"tcp.keepalive_count", "tcp-keepalive-count", Kind::kInt, &C::tcp_keepalive_count,
           "Unanswered TCP keepalive probes before the kernel drops the connection", false},
    // -- io
    Option{"io.direct_descriptors", "no-direct-descriptors", Kind::kBool,
           &C::direct_descriptors,
           "Accept into the rings' direct descriptor tables (else ordinary descriptors)", false},
    Option{"io.defer_taskrun", "no-defer-taskrun", Kind::kBool, &C::defer_taskrun,
           "Ask for SINGLE_ISSUER|DEFER_TASKRUN rings", false},
    Option{"io.msg_ring", "no-msg-ring", Kind::kBool, &C::msg_ring,
           "Wake workers with IORING_OP_MSG_RING (else eventfds)", false},
    Option{"io.recv_buffers", "recv-buffers", Kind::kUint, &C::recv_buffers,
           "Receive buffers per worker (power of two)", false},
    Option{"io.recv_buffer_size", "recv-buffer-size", Kind::kUint, &C::recv_buffer_size,
           "Bytes per receive buffer", false},
    Option{"io.max_connections_per_worker", "max-connections-per-worker", Kind::kUint,
           &C::max_connections_per_worker,
           "Cap on connections per worker (0: the descriptor table size)", false},
    Option{"io.ring_entries", "ring-entries", Kind::kUint, &C::ring_entries,
           "Submission queue entries per ring", false},
    Option{"io.mail_ring_entries", "mail-ring-entries", Kind::kUint, &C::mail_ring_entries,
           "Records in each worker-to-worker mail ring", false},
    // -- several nodes
    Option{"bus.url", "bus", Kind::kString, &C::bus,
           "Share channels with other nodes through Redis: redis://[[USER]:PASSWORD@]HOST:PORT or "
           "redis+cluster://[[USER]:PASSWORD@]H1:P1,H2:P2 (empty: this node alone)",
           false},
    Option{"bus.node_id", "node-id", Kind::kString, &C::node_id,
           "This node's name on the bus (empty: generated at start)", false},
    Option{"bus.partitions", "bus-partitions", Kind::kUint, &C::bus_partitions,
           "Redis pub/sub channels the gateway's channels are grouped into (the same on every "
           "node)",
           false},
    Option{"bus.history_ttl", "bus-history-ttl", Kind::kDuration, &C::bus_history_ttl_ms,
           "How long Redis keeps a channel's offset and epoch after its last publish", false},
    // -- TLS
    Option{"tls.cert", "tls-cert", Kind::kString, &C::tls_cert,
           "Certificate chain (PEM) for ,tls listeners", true},
    Option{"tls.key", "tls-key", Kind::kString, &C::tls_key, "Its private key (PEM)", true},
    Option{"tls.sni", "tls-sni", Kind::kStringList, &C::tls_sni,
           "More certificates, chosen by the client's server name: NAME=CERT,KEY (repeatable)",
           true},
    Option{"tls.ticket_rotation", "tls-ticket-rotation", Kind::kDuration,
           &C::tls_ticket_rotation_ms,
           "How long a session-ticket key encrypts new tickets (the previous key still resumes "
           "for one more period)",
           false},
    // -- logging
    Option{"log.level", "log-level", Kind::kString, &C::log_level,
           "debug, info, warn or error", true},
    Option{"log.format", "log-format", Kind::kString, &C::log_format,
           "text (key=value) or json, one line per event", true},
    // -- testing knobs
    Option{"testing.auth_delay_us", "auth-test-delay-us", Kind::kUint, &C::auth_test_delay_us,
           "Testing only: add this many microseconds to every verification", false},
};

std::string format_duration(uint64_t ms) {
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_size(uint64_t n) {
  if (n != 0 && n % (1ull << 30) == 0) return std::to_string(n >> 30) + "GiB";
  if (n != 0 && n % (1ull << 20) == 0) return std::to_string(n >> 20) + "MiB";
  if (n != 0 && n % (1ull << 10) == 0) return std::to_string(n >> 10) + "KiB";
  return std::to_string(n);
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

template <class T>
bool store_uint(T& field, uint64_t v, std::string& err) {
  if (v > std::numeric_limits<T>::max()) {
    err = "too large (at most " + std::to_string(std::numeric_limits<T>::max()) + ")";
    return false;
  }
  field = T(v);
  return true;
}

bool store_integer(const Option& o, Config& c, int64_t v, std::string& err) {
  return std::visit(
      [&](auto m) -> bool {
        using F = std::remove_reference_t<decltype(c.*m)>;
        if constexpr (std::is_same_v<F, int>) {
          if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
            err = "out of range";
            return false;
          }
          c.*m = int(v);
          return true;
        } else if constexpr (std::is_same_v<F, uint32_t> || std::is_same_v<F, uint64_t>) {
          if (v < 0) {
            err = "must not be negative";
            return false;
          }
          return store_uint(c.*m, uint64_t(v), err);
        } else if constexpr (std::is_same_v<F, std::optional<uint64_t>>) {
          if (v < 0) {
            err = "must not be negative";
            return false;
          }
          c.*m = uint64_t(v);
          return true;
        } else {
          err = "expected a " + std::string(o.kind == Kind::kBool ? "boolean" : "string");
          return false;
        }
      },
      o.member);
}

// Built by appending: GCC 12 warns falsely (-Wrestrict) on `"\"" + std::string + "\""`.
std::string in_quotes(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  out.append(text);
  out.push_back('"');
  return out;
}

}  // namespace

std::span<const Option> options() { return kOptions; }

const Option* find_option_by_key(std::string_view key) {
  for (const Option& o : kOptions)
    if (key == o.key) return &o;
  return nullptr;
}

std::string format_value(const Option& o, const Config& c) {
  return std::visit(
      [&](auto m) -> std::string {
        const auto& v = c.*m;
        using F = std::remove_cvref_t<decltype(v)>;
        if constexpr (std::is_same_v<F, std::string>) {
          return quoted(v);
        } else if constexpr (std::is_same_v<F, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<F, std::optional<uint64_t>>) {
          return v ? in_quotes(format_duration(*v)) : "";
        } else if constexpr (std::is_same_v<F, int>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<F, std::vector<std::string>>) {
          std::string out = "[";
          for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quoted(v[i]);
          return out + "]";
        } else {
          if (o.kind == Kind::kDuration) return in_quotes(format_duration(v));
          if (o.kind == Kind::kSize) return in_quotes(format_size(v));
          return std::to_string(v);
        }
      },
      o.member);
}

bool set_from_text(const Option& o, Config& c, std::string_view text, std::string& err) {
  switch (o.kind) {
    case Kind::kString:
      c.*std::get<std::string Config::*>(o.member) = std::string(text);
      return true;
    case Kind::kStringList:
      c.*std::get<std::vector<std::string> Config::*>(o.member) = {std::string(text)};
      return true;
    case Kind::kBool:
      if (text == "true") return set_from_bool(o, c, true, err);
      if (text == "false") return set_from_bool(o, c, false, err);
      err = "expected true or false";
      return false;
    case Kind::kDuration:
    case Kind::kOptionalDuration: {
      auto ms = parse_duration_ms(text);
      if (!ms) {
        err = "expected a duration like 250ms, 10s, 2m";
        return false;
      }
      return store_integer(o, c, int64_t(std::min<uint64_t>(*ms, INT64_MAX)), err);
    }
    case Kind::kSize: {
      auto n = parse_size(text);
      if (!n) {
        err = "expected a size like 65536, 64KiB, 1MiB";
        return false;
      }
      return store_integer(o, c, int64_t(std::min<uint64_t>(*n, INT64_MAX)), err);
    }
    case Kind::kUint:
    case Kind::kInt: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) {
        err = o.kind == Kind::kUint ? "expected a non-negative integer" : "expected an integer";
        return false;
      }
      return store_integer(o, c, v, err);
    }
  }
  return false;
}

bool set_list(const Option& o, Config& c, std::vector<std::string> values, std::string& err) {
  if (o.kind != Kind::kStringList) {
    err = "expected a single value";
    return false;
  }
  c.*std::get<std::vector<std::string> Config::*>(o.member) = std::move(values);
  return true;
}

bool set_from_integer(const Option& o, Config& c, int64_t value, std::string& err) {
  if (o.kind == Kind::kString || o.kind == Kind::kStringList || o.kind == Kind::kBool) {
    err = o.kind == Kind::kBool ? "expected true or false" : "expected a string";
    return false;
  }
  // Integers in a file: milliseconds for durations, bytes for sizes.
  return store_integer(o, c, value, err);
}

bool set_from_bool(const Option& o, Config& c, bool value, std::string& err) {
  if (o.kind != Kind::kBool) {
    err = "expected " + std::string(o.kind == Kind::kString ? "a string" : "a number");
    return false;
  }
  c.*std::get<bool Config::*>(o.member) = value;
  return true;
}

bool equal_values(const Option& o, const Config& a, const Config& b) {
  return std::visit([&](auto m) { return a.*m == b.*m; }, o.member);
}

}  // namespace ringway::config
