#pragma once
// Per-connection protocol state above the io layer. One Session per connection, created at
// accept and freed when the connection closes.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/upgrade_parser.h"
#include "ws/message_reader.h"

namespace ringway::io {
struct Conn;
}

namespace ringway::gateway {

class Gateway;

enum class Phase : uint8_t {
  kHttp,       // reading the request head (handshake deadline)
  kWebSocket,  // open
  kClosing,    // our close frame is queued; waiting for the peer's (close deadline)
  kLinger,     // our side is done; writes shut down after the last byte, input discarded
};

enum class Route : uint8_t { kNone, kEcho, kGateway };

// The gateway route's connect protocol, inside Phase::kWebSocket.
enum class AuthPhase : uint8_t {
  kAwaitConnect,  // challenge sent; the first frame must be the connect request (connect deadline)
  kVerifying,     // request parsed and queued for a verifier (auth deadline)
  kReady,         // hello sent
};

// State only the gateway route needs; allocated at its upgrade, so echo sessions stay small.
struct GatewayState {
  AuthPhase auth = AuthPhase::kAwaitConnect;
  bool holds_unauthenticated_slot = false;  // counted against the per-address cap
  bool is_device = false;
  std::string nonce;       // the challenge (until verified)
  std::string request_id;  // of the connect request (until answered)
  std::array<uint8_t, 32> device_id{};
  std::string service_name;
  std::vector<std::string> scopes;  // granted
};

struct Session final : ws::MessageSink {
  Session(Gateway& g, io::Conn& c, uint64_t now, size_t max_message)
      : gateway(g), conn(c), reader(max_message), last_rx_ms(now), last_ping_ms(0) {}

  void on_message(ws::Opcode op, std::span<const uint8_t> payload) override;
  void on_ping(std::span<const uint8_t> payload) override;
  void on_pong(std::span<const uint8_t> payload) override;
  void on_close(uint16_t code, std::span<const uint8_t> reason) override;

  Gateway& gateway;
  io::Conn& conn;
  std::unique_ptr<http::UpgradeParser> http;  // only while the request head is being read
  std::unique_ptr<GatewayState> gw;           // gateway route only
  ws::MessageReader reader;
  uint64_t deadline_ms = 0;  // the phase deadline: handshake, close or linger
  uint64_t last_rx_ms;       // the last time any byte arrived (ping and idle are measured from it)
  uint64_t last_ping_ms;     // when the server last pinged (0: not since last_rx)
  Phase phase = Phase::kHttp;
  Route route = Route::kNone;
};

}  // namespace ringway::gateway
