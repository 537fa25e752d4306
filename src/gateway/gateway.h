#pragma once
// The protocol handler the io workers call: HTTP upgrade and small responses, the WebSocket
// routes, and every per-connection deadline. One Gateway per worker; nothing shared.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/byte_buffer.h"
#include "io/handler.h"
#include "ringway/config.h"

namespace ringway::gateway {

struct Session;

// How long an HTTP error response lingers for the client to read it before the TCP close.
inline constexpr uint64_t kHttpLingerMs = 1000;

struct GatewayOptions {
  size_t max_message_size = size_t(1) << 20;
  size_t max_buffered = size_t(4) << 20;
  bool echo_route = true;
  std::string ws_path = "/ws";
  uint64_t handshake_timeout_ms = 10000;
  uint64_t ping_interval_ms = 30000;  // 0: never ping
  uint64_t idle_timeout_ms = 90000;   // 0: never close for silence
  uint64_t close_timeout_ms = 5000;

  static GatewayOptions from(const Config& c);
};

struct GatewayStats {
  uint64_t upgrades = 0, http_errors = 0, protocol_errors = 0, messages = 0;
  uint64_t handshake_timeouts = 0, idle_timeouts = 0, close_timeouts = 0, slow_consumers = 0;
  uint64_t pings_sent = 0;
};

class Gateway final : public io::ConnectionHandler {
 public:
  explicit Gateway(const GatewayOptions& opts) : opts_(opts) {}

  void on_open(io::Worker& w, io::Conn& c) override;
  void on_data(io::Worker& w, io::Conn& c, std::span<const uint8_t> bytes) override;
  void on_peer_eof(io::Worker& w, io::Conn& c) override;
  void on_timer(io::Worker& w, io::Conn& c) override;
  void on_drain(io::Worker& w, io::Conn& c) override;
  void on_close(io::Worker& w, io::Conn& c) override;

  const GatewayStats& stats() const { return stats_; }
  const GatewayOptions& options() const { return opts_; }

 private:
  friend struct Session;
  void on_request(Session& s, std::span<const uint8_t> rest);
  void respond(Session& s, int status);
  // Sends a close frame and waits (close timeout) for the peer's.
  void start_close(Session& s, uint16_t code, std::string_view reason);
  // Protocol violation: close frame with the code, then TCP closed without waiting.
  void fail(Session& s, uint16_t code, std::string_view reason);
  // Our side is done: send what is queued, shut down writes, close on EOF or at the deadline.
  void linger(Session& s, uint64_t for_ms);
  void send_control(Session& s, uint8_t opcode, std::span<const uint8_t> payload);
  void check_buffered(Session& s);
  void schedule(Session& s);
  void feed_websocket(Session& s, std::span<const uint8_t> bytes);

  GatewayOptions opts_;
  GatewayStats stats_;
  io::Worker* worker_ = nullptr;  // the worker running the current callback
  ByteBuffer scratch_;            // control frames are encoded here, then queued
};

}  // namespace ringway::gateway
