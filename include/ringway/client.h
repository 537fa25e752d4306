#pragma once
// Client side of the Ringway gateway protocol: device identities, the signed connect request,
// and reading the server's challenge and hello. It does no I/O, so any WebSocket client (the
// load generator, tests, an application) can drive the connect flow:
//
//   1. open a WebSocket to the gateway route and read the first text message;
//   2. nonce = parse_challenge(message);
//   3. send device_connect_request(identity, *nonce, scopes, now_ms);
//   4. parse_connect_response(next message): ok -> hello; else code, retryable, retryAfterMs.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::client {

struct DeviceIdentity {
  std::array<uint8_t, 32> seed{};        // the Ed25519 private key seed: keep it secret
  std::array<uint8_t, 64> signing_key{};  // expanded from the seed once, so signing is one step
  std::array<uint8_t, 32> public_key{};
  std::string device_id;                 // lowercase hex SHA-256 of public_key
  std::string public_key_base64url;
};

DeviceIdentity generate_identity();
DeviceIdentity identity_from_seed(const std::array<uint8_t, 32>& seed);
// Key files as written by `ringway keygen` (mode 0600; group/world-readable files are refused).
bool load_identity(const std::string& path, DeviceIdentity& out, std::string& err);
bool save_identity(const std::string& path, const DeviceIdentity& id, std::string& err);
// The device registry line for this identity: "<base64url public key> scope,scope".
std::string registry_line(const DeviceIdentity& id, std::span<const std::string> scopes);

// The bytes a device signs (six lines joined by '\n').
std::string signing_payload(std::string_view device_id, std::string_view role,
                            std::span<const std::string> scopes, uint64_t signed_at_ms,
                            std::string_view nonce);

struct ClientInfo {
  std::string name = "ringway-client";
  std::string version = "0.1.0";
  std::string platform = "linux";
};

// The nonce of a connect.challenge event, or nullopt if the text is not one.
std::optional<std::string> parse_challenge(std::string_view event_json);

// A complete connect request for a device, signed now. The append form writes into a string
// the caller reuses.
void append_device_connect_request(std::string& out, const DeviceIdentity& id,
                                   std::string_view nonce, std::span<const std::string> scopes,
                                   uint64_t signed_at_ms, std::string_view request_id = "1",
                                   const ClientInfo& info = ClientInfo{});
std::string device_connect_request(const DeviceIdentity& id, std::string_view nonce,
                                   std::span<const std::string> scopes, uint64_t signed_at_ms,
                                   std::string_view request_id = "1",
                                   const ClientInfo& info = ClientInfo{});
// A connect request for a backend service holding a token.
std::string service_connect_request(std::string_view token, std::span<const std::string> scopes,
                                    std::string_view request_id = "1",
                                    const ClientInfo& info = ClientInfo{});

struct ConnectResponse {
  bool parsed = false;  // the text was a response at all
  bool ok = false;      // a hello
  std::string code, message;          // when !ok
  bool retryable = false;
  uint64_t retry_after_ms = 0;
  std::string conn_id, device_id;     // when ok
  std::vector<std::string> scopes;    // granted
  uint64_t max_payload = 0, max_buffered = 0, ping_interval_ms = 0, idle_timeout_ms = 0;
};
ConnectResponse parse_connect_response(std::string_view json);

}  // namespace ringway::client
