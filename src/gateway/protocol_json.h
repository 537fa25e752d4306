#pragma once
// Parsing of gateway-protocol frames (PROTOCOL.md): the connect request that must be a
// connection's first frame, and the requests that follow the hello.
//
// Parsing is strict and complete: the whole frame must be one valid JSON object (simdjson DOM,
// which validates every byte, including values this code ignores), keys the parser reads must
// not repeat, and every field the gateway relies on is type-, length- and encoding-checked here,
// so later stages (auth, routing) work on values that are already well formed. Cryptographic
// checks, the registry and the challenge nonce are auth's job, not this file's.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/credentials.h"

namespace ringway::gateway {

// The only protocol version this gateway speaks.
inline constexpr int kProtocolVersion = 1;

inline constexpr size_t kMaxPreAuthFrame = 64 * 1024;  // the gateway closes bigger first frames
inline constexpr size_t kMaxRequestIdLength = 64, kMaxClientName = 64, kMaxClientVersion = 32,
                        kMaxClientPlatform = 32, kMaxScopesPerRequest = 32, kMaxScopeLength = 140,
                        kMaxTokenLength = 512;
inline constexpr size_t kMaxNonceLength = 64;
inline constexpr size_t kDeviceIdLength = 64;  // lowercase hex of a SHA-256
// Channel names (and scope pattern prefixes) are at most this long.
inline constexpr size_t kMaxChannelLength = 128;
// Method names after the hello ("subscribe", "publish", ...).
inline constexpr size_t kMaxMethodLength = 64;
// Largest protocol number accepted in minProtocol/maxProtocol (they are stored as int).
inline constexpr uint64_t kMaxProtocolNumber = 0x7fffffff;
// Deepest JSON nesting accepted anywhere in a frame. Real frames need a handful of levels; the
// bound keeps whoever re-parses params (routing, receiving clients) safe from pathological input.
inline constexpr size_t kMaxJsonDepth = 128;

// Error codes from PROTOCOL.md (values are the wire strings).
namespace codes {
inline constexpr const char* kInvalidRequest = "INVALID_REQUEST";
inline constexpr const char* kProtocolMismatch = "PROTOCOL_MISMATCH";
inline constexpr const char* kDeviceUnknown = "DEVICE_UNKNOWN";
inline constexpr const char* kDeviceIdMismatch = "DEVICE_ID_MISMATCH";
inline constexpr const char* kSignatureInvalid = "SIGNATURE_INVALID";
inline constexpr const char* kSignatureExpired = "SIGNATURE_EXPIRED";
inline constexpr const char* kNonceMismatch = "NONCE_MISMATCH";
inline constexpr const char* kTokenInvalid = "TOKEN_INVALID";
inline constexpr const char* kScopeDenied = "SCOPE_DENIED";
inline constexpr const char* kUnavailable = "UNAVAILABLE";
inline constexpr const char* kAuthTimeout = "AUTH_TIMEOUT";
}  // namespace codes

using Role = auth::Role;
// "device" / "service", as on the wire.
std::string_view role_name(Role r);

// A parsed connect request: the credentials the verifier checks (role, scopes as sent in order,
// device id/key/signature/signedAt/nonce or the service token — moved as they are to a verifier
// thread) plus the envelope only the gateway reads.
struct ConnectRequest : auth::Credentials {
  std::string id;  // request id, 1-64 printable ASCII (0x20-0x7e)
  int min_protocol = 0, max_protocol = 0;
  std::string client_name, client_version, client_platform;
};

struct ProtocolError {
  const char* code = "";  // a codes:: value, e.g. "INVALID_REQUEST"
  std::string message;    // "<field path>: <what is wrong>"
};

struct ConnectParse {
  bool ok = false;
  ConnectRequest request;
  ProtocolError error;
  std::string request_id;  // best effort, for the error response; "" if unknown
};

// `frame` is the text of the first WebSocket message (already valid UTF-8). On failure the
// error is INVALID_REQUEST (message names the field) or PROTOCOL_MISMATCH. The protocol range
// is checked before the rest of params, so a client speaking only another version learns that
// even if its connect request has a different shape. Unknown keys are ignored; duplicate keys in
// any object this function reads are rejected. client.platform may be absent (""); every other
// field shown in PROTOCOL.md is required for its role (scopes may be an empty array).
ConnectParse parse_connect(std::string_view frame);

// What the routing methods read from params (and the HTTP API from its body). Each is checked
// for its JSON type here; names and ids are the router's to judge.
struct RouteParams {
  bool has_channel = false, has_to = false, has_data = false;
  std::string channel;          // params.channel (a string)
  std::string to;               // params.to (a string)
  std::string_view data_json;   // raw JSON text of params.data, a view into the parsed frame
};

// Requests after the hello: {"type":"req","id":..,"method":..,"params":{...}}.
struct Request {
  std::string id;
  std::string method;  // 1-64 printable ASCII; whether it is known is the router's call
  RouteParams params;
};

struct RequestParse {
  bool ok = false;
  Request request;
  ProtocolError error;     // always INVALID_REQUEST on failure
  std::string request_id;  // best effort; "" if unknown
};

// Duplicate keys are rejected at the top level and among params' own members (the router reads
// those); values nested deeper are only checked to be valid JSON. params.data's view points
// into `frame`.
RequestParse parse_request(std::string_view frame);

// The body of POST /v1/publish or /v1/send: one JSON object with the members of RouteParams
// (data's view points into `body`). On failure the error is INVALID_REQUEST.
bool parse_route_body(std::string_view body, RouteParams& out, ProtocolError& e);


}  // namespace ringway::gateway
