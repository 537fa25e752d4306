#pragma once
// The protocol handler the io workers call: HTTP upgrade and small responses, the WebSocket
// routes, and every per-connection deadline. One Gateway per worker; nothing shared.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "auth/registry.h"
#include "auth/verifier_pool.h"
#include "ws/frame.h"

#include "common/byte_buffer.h"
#include "io/handler.h"
#include "ringway/config.h"

namespace ringway::gateway {

struct Session;
class AuthContext;

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
  uint64_t connect_timeout_ms = 10000;
  uint64_t auth_timeout_ms = 5000;

  static GatewayOptions from(const Config& c);
};

struct GatewayStats {
  uint64_t upgrades = 0, http_errors = 0, protocol_errors = 0, messages = 0;
  uint64_t handshake_timeouts = 0, idle_timeouts = 0, close_timeouts = 0, slow_consumers = 0;
  uint64_t pings_sent = 0;
  uint64_t connects = 0, auth_ok = 0, auth_failed = 0, auth_shed = 0, auth_timeouts = 0;
  uint64_t connect_timeouts = 0, revoked = 0;
};

class Gateway final : public io::ConnectionHandler {
 public:
  Gateway(const GatewayOptions& opts, AuthContext* auth) : opts_(opts), auth_(auth) {}

  void on_open(io::Worker& w, io::Conn& c) override;
  void on_data(io::Worker& w, io::Conn& c, std::span<const uint8_t> bytes) override;
  void on_peer_eof(io::Worker& w, io::Conn& c) override;
  void on_timer(io::Worker& w, io::Conn& c) override;
  void on_drain(io::Worker& w, io::Conn& c) override;
  void on_close(io::Worker& w, io::Conn& c) override;

  // A verifier's verdict, delivered on this worker's thread.
  void on_verified(io::Worker& w, auth::VerifyOutcome&& out);
  // The registry no longer has these devices: close their sessions (4001 revoked).
  void revoke(io::Worker& w, const std::vector<auth::DeviceId>& removed);

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
  // Gateway route (gateway_route.cc).
  void open_gateway_route(Session& s);
  void on_gateway_message(Session& s, ws::Opcode op, std::span<const uint8_t> payload);
  void on_connect_request(Session& s, std::span<const uint8_t> payload);
  void on_request_after_hello(Session& s, std::span<const uint8_t> payload);
  void send_text(Session& s, std::string_view json);
  // An error response, then close (code, reason = the error code).
  void refuse(Session& s, std::string_view request_id, const char* code, std::string_view message,
              uint16_t close_code, uint64_t retry_after_ms = 0);
  void gateway_timer(Session& s, uint64_t now);
  void release_gateway_state(Session& s);

  GatewayOptions opts_;
  AuthContext* auth_;  // null: the gateway route answers 404
  GatewayStats stats_;
  std::unordered_set<Session*> device_sessions_;  // authenticated devices, for revocation
  io::Worker* worker_ = nullptr;  // the worker running the current callback
  ByteBuffer scratch_;            // control frames are encoded here, then queued
};

}  // namespace ringway::gateway
