#include "gateway/json_writer.h"

#include <array>
#include <charconv>

#include "gateway/protocol_json.h"

namespace ringway::gateway {
namespace {

// Room for the fixed text of a frame, so the returning forms allocate once in the usual case.
constexpr size_t kFrameOverhead = 96;
constexpr size_t kHelloOverhead = 320;
// Per granted scope in the hello: quotes and comma.
constexpr size_t kScopeOverhead = 3;
// Decimal digits of the largest uint64_t.
constexpr size_t kMaxUintDigits = 20;

// Bytes that can be copied as they are: printable ASCII except '"' and '\'.
constexpr std::array<bool, 256> make_plain_table() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}
constexpr std::array<bool, 256> kPlain = make_plain_table();

// Length of the valid UTF-8 sequence starting at p[0] (a byte >= 0x80), or 0 if there is none.
// Follows the well-formed byte sequences of Unicode table 3-7: no overlongs, no surrogates,
// nothing above U+10FFFF.
size_t utf8_sequence_length(const unsigned char* p, size_t n) {
  unsigned char b = p[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (b >= 0xc2 && b <= 0xdf) {
    len = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    len = 3;
    if (b == 0xe0) lo = 0xa0;
    if (b == 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4;
    if (b == 0xf0) lo = 0x90;
    if (b == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (p[k] < 0x80 || p[k] > 0xbf) return 0;
  }
  return len;
}

// An empty payload is written as {} so the frame stays valid JSON.
void append_raw_json(std::string& out, std::string_view json) {
  out.append(json.empty() ? std::string_view("{}") : json);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  out.push_back('"');
  size_t i = 0;
  while (i < n) {
    size_t start = i;
    while (i < n && kPlain[p[i]]) ++i;
    out.append(s.data() + start, i - start);
    if (i == n) break;
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      const char esc[2] = {'\\', char(c)};
      out.append(esc, 2);
      ++i;
    } else if (c < 0x20) {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(esc, 6);
      ++i;
    } else if (size_t len = utf8_sequence_length(p + i, n - i)) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\\ufffd");
      ++i;
    }
  }
  out.push_back('"');
}

void append_json_uint(std::string& out, uint64_t v) {
  char buf[kMaxUintDigits];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_challenge_event(std::string& out, std::string_view nonce, uint64_t ts_ms) {
  out.append(R"({"type":"event","event":"connect.challenge","payload":{"nonce":)");
  append_json_string(out, nonce);
  out.append(R"(,"ts":)");
  append_json_uint(out, ts_ms);
  out.append("}}");
}

std::string challenge_event(std::string_view nonce, uint64_t ts_ms) {
  std::string out;
  out.reserve(kFrameOverhead + nonce.size());
  append_challenge_event(out, nonce, ts_ms);
  return out;
}

void append_hello_response(std::string& out, std::string_view request_id, const HelloInfo& h) {
  out.append(R"({"type":"res","id":)");
  append_json_string(out, request_id);
  out.append(R"(,"ok":true,"payload":{"type":"hello","protocol":)");
  append_json_uint(out, kProtocolVersion);
  out.append(R"(,"server":{"name":"ringway","version":)");
  append_json_string(out, h.server_version);
  out.append(R"(,"connId":)");
  append_json_string(out, h.conn_id);
  out.append(R"(},"session":{"role":)");
  append_json_string(out, h.role);
  if (!h.device_id.empty()) {
    out.append(R"(,"deviceId":)");
    append_json_string(out, h.device_id);
  }
  out.append(R"(,"scopes":[)");
  for (size_t i = 0; i < h.scopes.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, h.scopes[i]);
  }
  out.append(R"(]},"policy":{"maxPayload":)");
  append_json_uint(out, h.max_payload);
  out.append(R"(,"maxBufferedBytes":)");
  append_json_uint(out, h.max_buffered);
  out.append(R"(,"pingIntervalMs":)");
  append_json_uint(out, h.ping_interval_ms);
  out.append(R"(,"idleTimeoutMs":)");
  append_json_uint(out, h.idle_timeout_ms);
  out.append("}}}");
}

std::string hello_response(std::string_view request_id, const HelloInfo& h) {
  size_t size = kHelloOverhead + request_id.size() + h.server_version.size() + h.conn_id.size() +
                h.role.size() + h.device_id.size();
  for (const std::string& s : h.scopes) size += s.size() + kScopeOverhead;
  std::string out;
  out.reserve(size);
  append_hello_response(out, request_id, h);
  return out;
}

void append_error_response(std::string& out, std::string_view request_id, std::string_view code,
                           std::string_view message, bool retryable, uint64_t retry_after_ms) {
  out.append(R"({"type":"res","id":)");
  append_json_string(out, request_id);
  out.append(R"(,"ok":false,"error":{"code":)");
  append_json_string(out, code);
  out.append(R"(,"message":)");
  append_json_string(out, message);
  if (retryable) {
    out.append(R"(,"retryable":true,"retryAfterMs":)");
    append_json_uint(out, retry_after_ms);
  } else {
    out.append(R"(,"retryable":false)");
  }
  out.append("}}");
}

std::string error_response(std::string_view request_id, std::string_view code,
                           std::string_view message, bool retryable, uint64_t retry_after_ms) {
  std::string out;
  out.reserve(kFrameOverhead + request_id.size() + code.size() + message.size() + kMaxUintDigits);
  append_error_response(out, request_id, code, message, retryable, retry_after_ms);
  return out;
}

void append_ok_response(std::string& out, std::string_view request_id,
                        std::string_view payload_json) {
  out.append(R"({"type":"res","id":)");
  append_json_string(out, request_id);
  out.append(R"(,"ok":true,"payload":)");
  append_raw_json(out, payload_json);
  out.push_back('}');
}

std::string ok_response(std::string_view request_id, std::string_view payload_json) {
  std::string out;
  out.reserve(kFrameOverhead + request_id.size() + payload_json.size());
  append_ok_response(out, request_id, payload_json);
  return out;
}

void append_event(std::string& out, std::string_view name, std::string_view payload_json) {
  out.append(R"({"type":"event","event":)");
  append_json_string(out, name);
  out.append(R"(,"payload":)");
  append_raw_json(out, payload_json);
  out.push_back('}');
}

std::string event(std::string_view name, std::string_view payload_json) {
  std::string out;
  out.reserve(kFrameOverhead + name.size() + payload_json.size());
  append_event(out, name, payload_json);
  return out;
}

void append_message_event(std::string& out, std::string_view channel, std::string_view from,
                          uint64_t offset, std::string_view data_json) {
  out.append(R"({"type":"event","event":"message","payload":{"channel":)");
  append_json_string(out, channel);
  out.append(R"(,"from":)");
  append_json_string(out, from);
  out.append(R"(,"offset":)");
  append_json_uint(out, offset);
  out.append(R"(,"data":)");
  out.append(data_json.empty() ? std::string_view("null") : data_json);
  out.append("}}");
}

size_t message_event_size_bound(std::string_view channel, std::string_view from,
                                std::string_view data_json) {
  // Escaping at most sextuples a byte (\u00XX); channel and from are short.
  return 96 + 6 * (channel.size() + from.size()) + kMaxUintDigits + data_json.size();
}

}  // namespace ringway::gateway
