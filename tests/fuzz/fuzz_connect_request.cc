// Fuzzes the gateway-protocol JSON layer: parse_connect and parse_request on arbitrary bytes,
// and append_json_string on the same bytes. Beyond "no crash, no leak, no UB" it checks what the
// parsers promise on success (every field within its limits and encodings, params.data one
// JSON value that parses again) and that the writer's output is valid JSON that reads back.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/base64url.h"
#include "auth/scopes.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"

namespace {

using namespace ringway::gateway;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool no_controls(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void check_error(const ProtocolError& e, const std::string& request_id) {
  std::string_view code(e.code);
  check(code == "INVALID_REQUEST" || code == "PROTOCOL_MISMATCH");
  check(!e.message.empty());
  check(request_id.size() <= kMaxRequestIdLength && printable_ascii(request_id));
}

void check_connect(std::string_view frame) {
  ConnectParse r = parse_connect(frame);
  if (!r.ok) {
    check_error(r.error, r.request_id);
    return;
  }
  const ConnectRequest& c = r.request;
  check(frame.size() <= kMaxPreAuthFrame);
  check(r.request_id == c.id);
  check(!c.id.empty() && c.id.size() <= kMaxRequestIdLength && printable_ascii(c.id));
  check(c.min_protocol >= 0 && c.min_protocol <= kProtocolVersion &&
        c.max_protocol >= kProtocolVersion);
  check(!c.client_name.empty() && c.client_name.size() <= kMaxClientName &&
        no_controls(c.client_name));
  check(!c.client_version.empty() && c.client_version.size() <= kMaxClientVersion &&
        no_controls(c.client_version));
  check(c.client_platform.size() <= kMaxClientPlatform && no_controls(c.client_platform));
  check(c.scopes.size() <= kMaxScopesPerRequest);
  for (const std::string& s : c.scopes) {
    check(ringway::auth::valid_scope(s) && s.size() <= kMaxScopeLength);
    check(s.find(',') == std::string::npos && s.find('\n') == std::string::npos);
  }
  if (c.role == Role::kDevice) {
    check(c.device_id.size() == kDeviceIdLength && lower_hex(c.device_id));
    check(c.nonce.size() <= kMaxNonceLength && printable_ascii(c.nonce));
    // The keys decode from exactly one spelling: re-encoding gives 43 / 86 characters.
    std::string key = ringway::auth::base64url_encode(c.public_key);
    std::string sig = ringway::auth::base64url_encode(c.signature);
    check(key.size() == 43 && sig.size() == 86);
    check(c.token.empty());
  } else {
    // A missing token is passed on empty (auth answers TOKEN_INVALID).
    check(c.token.size() <= kMaxTokenLength && printable_ascii(c.token));
    check(c.device_id.empty());
  }
  // The error response for this id is valid JSON.
  std::string res = error_response(c.id, codes::kInvalidRequest, "x", false, 0);
  check(parse_request(res).error.message == "type: expected \"req\"");
}

void check_request(std::string_view frame) {
  RequestParse r = parse_request(frame);
  if (!r.ok) {
    check_error(r.error, r.request_id);
    std::string_view code(r.error.code);
    check(code == "INVALID_REQUEST");
    return;
  }
  const Request& q = r.request;
  check(r.request_id == q.id);
  check(!q.id.empty() && q.id.size() <= kMaxRequestIdLength && printable_ascii(q.id));
  check(!q.method.empty() && q.method.size() <= kMaxMethodLength && printable_ascii(q.method));
  if (!q.params.has_data) return;
  // data is exactly one JSON value: put back as params.data, it parses to the same text.
  std::string again =
      R"({"type":"req","id":"x","method":"m","params":{"data":)" + std::string(q.params.data_json) + "}}";
  RequestParse r2 = parse_request(again);
  check(r2.ok && r2.request.params.data_json == q.params.data_json);
}

// The HTTP API's body parser: on success, data is one JSON value that parses again.
void check_route_body(std::string_view body) {
  RouteParams p;
  ProtocolError e;
  if (!parse_route_body(body, p, e)) {
    check(std::string_view(e.code) == "INVALID_REQUEST" && !e.message.empty());
    return;
  }
  if (!p.has_data) return;
  RouteParams again;
  std::string wrapped = "{\"data\":" + std::string(p.data_json) + "}";
  check(parse_route_body(wrapped, again, e) && again.data_json == p.data_json);
}

void check_writer(std::string_view bytes) {
  std::string json;
  append_json_string(json, bytes);
  check(simdjson::validate_utf8(json.data(), json.size()));
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  std::string_view back;
  check(parser.parse(padded).get(back) == simdjson::SUCCESS);
  if (simdjson::validate_utf8(bytes.data(), bytes.size())) check(back == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  check_connect(frame);
  check_request(frame);
  check_route_body(frame);
  if (size <= 4096) check_writer(frame);
  return 0;
}
