#pragma once
// Per-connection protocol state above the io layer. One Session per connection, created when
// the connection opens and freed when it closes. It holds no references to the worker or the
// gateway: those come with each call (see Gateway::Ctx).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "auth/identity.h"
#include "common/byte_buffer.h"
#include "gateway/channels.h"
#include "http/upgrade_parser.h"
#include "ws/message_reader.h"

namespace ringway::gateway {

enum class Phase : uint8_t {
  kHttp,       // reading the request head (handshake deadline)
  kWebSocket,  // open
  kClosing,    // our close frame is queued; waiting for the peer's (close deadline)
  kLinger,     // our side is done; writes shut down after the last byte, input discarded
};

enum class Route : uint8_t { kNone, kEcho, kGateway, kStatus };

// What a connection counts as in the connection gauges (ringway_connections{state}).
// kStatus: a /status watcher (it only listens; no hello, no identity).
enum class CountState : uint8_t { kNone, kHttp, kEcho, kUnauthenticated, kSession, kStatus, kClosing };
inline constexpr size_t kCountStates = 7;

// The gateway route's connect protocol, inside Phase::kWebSocket.
enum class AuthPhase : uint8_t {
  kAwaitConnect,  // challenge sent; the first frame must be the connect request (connect deadline)
  kVerifying,     // request parsed and queued for a verifier (auth deadline)
  kReady,         // hello sent
};

// State only the gateway route needs; allocated at its upgrade, so echo sessions stay small.
struct GatewayState {
  AuthPhase auth = AuthPhase::kAwaitConnect;
  bool indexed = false;    // listed in the gateway's index of authenticated sessions
  std::string nonce;       // the challenge (until verified)
  std::string request_id;  // of the connect request (until answered)
  auth::Principal who;     // who it is (set at the connect request, completed at the hello)
  std::vector<std::string> scopes;  // granted
  std::string hello;       // a device's hello, held until its own channel is subscribed
  uint64_t checked_generation = 0;    // of the identity the verdict was checked against
  std::vector<Subscription> subs;     // channels it receives (a device's own one included)
  std::vector<std::string> pending;   // subscribes sent to a sequencer, not yet confirmed
  uint64_t tokens_milli = 0;          // request-rate bucket, in thousandths of a request
  uint64_t tokens_at_ms = 0;          // when the bucket was last filled
};

// An HTTP API request (POST /v1/publish, /v1/send) while its body is read and answered.
struct ApiState {
  ByteBuffer body;
  size_t need = 0;          // Content-Length
  bool keep_alive = true;
  bool direct = false;      // /v1/send
  bool dev_register = false;  // /v1/dev/register
  bool awaiting = false;    // sent to a sequencer; the answer comes by mail
  std::string service;      // the token's service name (the "from" of the message)
  std::vector<std::string> scopes;
  ByteBuffer pipelined;     // bytes of the next request that came while this one was answered
};

struct Session {
  explicit Session(uint64_t now, size_t max_message)
      : reader(max_message), last_rx_ms(now), opened_ms(now) {}

  std::unique_ptr<http::UpgradeParser> http;  // only while the request head is being read
  std::unique_ptr<GatewayState> gw;           // gateway route only
  std::unique_ptr<ApiState> api;              // HTTP API requests only
  ws::MessageReader reader;
  uint64_t deadline_ms = 0;     // the phase deadline: handshake, close or linger
  uint64_t last_rx_ms;          // the last time any byte arrived (ping and idle are measured from it)
  uint64_t last_ping_ms = 0;    // when the server last pinged (0: not since last_rx)
  uint64_t msg_started_ms = 0;  // a frame or message has been arriving since then (0: none)
  uint64_t opened_ms;           // for the session's duration in its closing log line
  const char* close_reason = nullptr;  // the first close: its reason (a static string)
  uint16_t close_code = 0;
  bool closed_by_peer = false;
  bool drain_pending = false;   // draining: close 1001 at deadline_ms (spread over the drain)
  Phase phase = Phase::kHttp;
  Route route = Route::kNone;
  uint8_t caps = 0;        // bit per CapKind counted for this connection (address_caps.h)
  CountState counted = CountState::kNone;
  bool peer_done = false;  // the peer's FIN came while a response was still owed
  // permessage-deflate: 0 when not negotiated, else the window bits (9..15) the server
  // compresses with (the reader knows it too: MessageReader::deflate()).
  uint8_t deflate_bits = 0;
  // Its context takeover counts against the memory budget (the kept streams hang off the
  // reader: MessageReader::set_takeover).
  // 0, or the client window bits its charge was computed with (ws::takeover_bytes).
  uint8_t deflate_charge_bits = 0;
};

}  // namespace ringway::gateway
