#include "ringway/client.h"

#include <simdjson.h>

#include "auth/base64url.h"
#include "auth/keys.h"
#include "auth/signature_payload.h"
#include "gateway/json_writer.h"

namespace ringway::client {

namespace {

DeviceIdentity from_keypair(const auth::KeyPair& kp) {
  DeviceIdentity id;
  id.seed = kp.seed;
  id.signing_key = kp.private_key;
  id.public_key = kp.public_key;
  id.device_id = auth::device_id_hex(kp.public_key);
  id.public_key_base64url = auth::base64url_encode(kp.public_key);
  return id;
}

void append_client_and_scopes(std::string& out, const ClientInfo& info,
                              std::span<const std::string> scopes) {
  out += "\"client\":{\"name\":";
  gateway::append_json_string(out, info.name);
  out += ",\"version\":";
  gateway::append_json_string(out, info.version);
  out += ",\"platform\":";
  gateway::append_json_string(out, info.platform);
  out += "},\"scopes\":[";
  for (size_t i = 0; i < scopes.size(); ++i) {
    if (i) out += ',';
    gateway::append_json_string(out, scopes[i]);
  }
  out += ']';
}

simdjson::padded_string padded(std::string_view s) { return simdjson::padded_string(s); }

// Reads an optional field: a missing or mistyped one leaves the default.
template <class T>
void read_optional(simdjson::simdjson_result<simdjson::dom::element> field, T& out) {
  T v;
  if (field.get(v) == simdjson::SUCCESS) out = v;
}

}  // namespace

DeviceIdentity generate_identity() { return from_keypair(auth::generate_keypair()); }

DeviceIdentity identity_from_seed(const std::array<uint8_t, 32>& seed) {
  return from_keypair(auth::keypair_from_seed(seed));
}

bool load_identity(const std::string& path, DeviceIdentity& out, std::string& err) {
  auth::KeyPair kp;
  if (!auth::read_private_key_file(path, kp, err)) return false;
  out = from_keypair(kp);
  return true;
}

bool save_identity(const std::string& path, const DeviceIdentity& id, std::string& err) {
  return auth::write_private_key_file(path, auth::keypair_from_seed(id.seed), err);
}

std::string registry_line(const DeviceIdentity& id, std::span<const std::string> scopes) {
  return auth::registry_line(auth::keypair_from_seed(id.seed), scopes);
}

std::string signing_payload(std::string_view device_id, std::string_view role,
                            std::span<const std::string> scopes, uint64_t signed_at_ms,
                            std::string_view nonce) {
  return auth::signature_payload(device_id, role, scopes, signed_at_ms, nonce);
}

std::optional<std::string> parse_challenge(std::string_view event_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto text = padded(event_json);
  if (parser.parse(text).get(doc)) return std::nullopt;
  std::string_view type, event, nonce;
  if (doc["type"].get(type) || type != "event") return std::nullopt;
  if (doc["event"].get(event) || event != "connect.challenge") return std::nullopt;
  if (doc["payload"]["nonce"].get(nonce)) return std::nullopt;
  return std::string(nonce);
}

void append_device_connect_request(std::string& out, const DeviceIdentity& id,
                                   std::string_view nonce, std::span<const std::string> scopes,
                                   uint64_t signed_at_ms, std::string_view request_id,
                                   const ClientInfo& info) {
  std::string payload = signing_payload(id.device_id, "device", scopes, signed_at_ms, nonce);
  auth::KeyPair kp;
  kp.seed = id.seed;
  kp.public_key = id.public_key;
  kp.private_key = id.signing_key;
  auth::Signature sig =
      auth::sign(kp, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()});
  out += "{\"type\":\"req\",\"id\":";
  gateway::append_json_string(out, request_id);
  out += ",\"method\":\"connect\",\"params\":{\"minProtocol\":1,\"maxProtocol\":1,";
  append_client_and_scopes(out, info, scopes);
  out += ",\"role\":\"device\",\"device\":{\"id\":\"";
  out += id.device_id;
  out += "\",\"publicKey\":\"";
  out += id.public_key_base64url;
  out += "\",\"signature\":\"";
  out += auth::base64url_encode(sig);
  out += "\",\"signedAt\":";
  gateway::append_json_uint(out, signed_at_ms);
  out += ",\"nonce\":";
  gateway::append_json_string(out, nonce);
  out += "}}}";
}

std::string device_connect_request(const DeviceIdentity& id, std::string_view nonce,
                                   std::span<const std::string> scopes, uint64_t signed_at_ms,
                                   std::string_view request_id, const ClientInfo& info) {
  std::string out;
  out.reserve(512);
  append_device_connect_request(out, id, nonce, scopes, signed_at_ms, request_id, info);
  return out;
}

std::string service_connect_request(std::string_view token, std::span<const std::string> scopes,
                                    std::string_view request_id, const ClientInfo& info) {
  std::string out;
  out += "{\"type\":\"req\",\"id\":";
  gateway::append_json_string(out, request_id);
  out += ",\"method\":\"connect\",\"params\":{\"minProtocol\":1,\"maxProtocol\":1,";
  append_client_and_scopes(out, info, scopes);
  out += ",\"role\":\"service\",\"auth\":{\"token\":";
  gateway::append_json_string(out, token);
  out += "}}}";
  return out;
}

ConnectResponse parse_connect_response(std::string_view json) {
  ConnectResponse r;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto text = padded(json);
  if (parser.parse(text).get(doc)) return r;
  std::string_view type;
  bool ok = false;
  if (doc["type"].get(type) || type != "res" || doc["ok"].get(ok)) return r;
  r.parsed = true;
  r.ok = ok;
  if (!ok) {
    simdjson::dom::element e;
    if (doc["error"].get(e)) return r;
    std::string_view code, message;
    if (!e["code"].get(code)) r.code = code;
    if (!e["message"].get(message)) r.message = message;
    read_optional(e["retryable"], r.retryable);
    read_optional(e["retryAfterMs"], r.retry_after_ms);
    return r;
  }
  simdjson::dom::element p;
  if (doc["payload"].get(p)) return r;
  std::string_view sv;
  if (!p["server"]["connId"].get(sv)) r.conn_id = sv;
  if (!p["session"]["deviceId"].get(sv)) r.device_id = sv;
  simdjson::dom::array scopes;
  if (!p["session"]["scopes"].get(scopes))
    for (auto s : scopes)
      if (!s.get(sv)) r.scopes.emplace_back(sv);
  read_optional(p["policy"]["maxPayload"], r.max_payload);
  read_optional(p["policy"]["maxBufferedBytes"], r.max_buffered);
  read_optional(p["policy"]["pingIntervalMs"], r.ping_interval_ms);
  read_optional(p["policy"]["idleTimeoutMs"], r.idle_timeout_ms);
  return r;
}

}  // namespace ringway::client
