#pragma once
// JSON output for the gateway protocol (PROTOCOL.md): the challenge, the hello, responses and
// events. Each frame has an append_* form that writes into a caller's string (reuse it to avoid
// allocating) and a convenience form that returns a new, pre-sized string. The text is the
// WebSocket text frame's payload; the caller frames it.
//
// Strings are escaped here; arguments named *_json are inserted as they are and must already be
// valid JSON (an empty one is written as {}).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringway::gateway {

// Appends `s` as a JSON string literal: '"' and '\' are backslash-escaped, control characters
// (U+0000-U+001F) become \u00XX, valid UTF-8 passes through unchanged, and any byte that is not
// part of valid UTF-8 becomes \ufffd, so the output is always valid UTF-8 (a text frame must be).
void append_json_string(std::string& out, std::string_view s);
// Appends `v` in decimal.
void append_json_uint(std::string& out, uint64_t v);

// {"type":"event","event":"connect.challenge","payload":{"nonce":"…","ts":…}}
void append_challenge_event(std::string& out, std::string_view nonce, uint64_t ts_ms);
std::string challenge_event(std::string_view nonce, uint64_t ts_ms);

struct HelloInfo {
  std::string_view server_version, conn_id, role;
  std::string_view device_id;           // empty for services: session.deviceId is then omitted
  std::span<const std::string> scopes;  // granted
  uint64_t max_payload, max_buffered, ping_interval_ms, idle_timeout_ms;
};
// PROTOCOL.md step 4:
//   {"type":"res","id":…,"ok":true,"payload":{"type":"hello","protocol":1,
//    "server":{"name":"ringway","version":…,"connId":…},
//    "session":{"role":…,"deviceId":…(only when device_id is set),"scopes":[…]},
//    "policy":{"maxPayload":N,"maxBufferedBytes":N,"pingIntervalMs":N,"idleTimeoutMs":N}}}
void append_hello_response(std::string& out, std::string_view request_id, const HelloInfo& h);
std::string hello_response(std::string_view request_id, const HelloInfo& h);

// {"type":"res","id":…,"ok":false,
//  "error":{"code":…,"message":…,"retryable":B[,"retryAfterMs":N]}}
// retryAfterMs is written only when retryable. An unknown request id is written as "".
void append_error_response(std::string& out, std::string_view request_id, std::string_view code,
                           std::string_view message, bool retryable, uint64_t retry_after_ms);
std::string error_response(std::string_view request_id, std::string_view code,
                           std::string_view message, bool retryable, uint64_t retry_after_ms);

// {"type":"res","id":…,"ok":true,"payload":<payload_json>}
void append_ok_response(std::string& out, std::string_view request_id,
                        std::string_view payload_json);
std::string ok_response(std::string_view request_id, std::string_view payload_json);

// {"type":"event","event":<name>,"payload":<payload_json>}
void append_event(std::string& out, std::string_view name, std::string_view payload_json);
std::string event(std::string_view name, std::string_view payload_json);

// A delivery (PROTOCOL.md, "After the hello"): {"type":"event","event":"message","payload":
// {"channel":C,"from":F,"offset":N,"data":<data_json>}}. The same bytes go to every recipient.
void append_message_event(std::string& out, std::string_view channel, std::string_view from,
                          uint64_t offset, std::string_view data_json);
// An upper bound of what append_message_event writes for these arguments.
size_t message_event_size_bound(std::string_view channel, std::string_view from,
                                std::string_view data_json);

}  // namespace ringway::gateway
