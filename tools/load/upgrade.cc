#include "load/upgrade.h"

#include <openssl/base64.h>

#include <cstring>

#include "http/handshake.h"

namespace ringway::load {

namespace {

uint64_t mix(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value lists `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (ieq(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string websocket_key(uint64_t seed) {
  uint8_t raw[16];
  uint64_t a = mix(seed + 0x9e3779b97f4a7c15ull), b = mix(seed + 2 * 0x9e3779b97f4a7c15ull);
  std::memcpy(raw, &a, 8);
  std::memcpy(raw + 8, &b, 8);
  uint8_t out[kWebSocketKeyChars + 1];
  EVP_EncodeBlock(out, raw, sizeof raw);
  return std::string(reinterpret_cast<char*>(out), kWebSocketKeyChars);
}

bool append_upgrade_request(ByteBuffer& out, std::string_view host, std::string_view path,
                            std::string_view key) {
  std::string r;
  r.reserve(160 + host.size() + path.size());
  r += "GET ";
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += host;
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += key;
  r += "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  return out.append(r.data(), r.size());
}

size_t ResponseHeadReader::feed(std::span<const uint8_t> in) {
  if (state_ != State::kNeedMore) return 0;
  size_t old = buf_.size();
  size_t limit = old + in.size();
  if (limit > kMaxResponseHead) limit = kMaxResponseHead;
  auto at = [&](size_t i) { return i < old ? buf_.data()[i] : in[i - old]; };
  // CRLFCRLF may straddle the previous call's bytes: start 3 bytes back.
  size_t end = 0;
  for (size_t i = old >= 3 ? old - 3 : 0; i + 4 <= limit; ++i) {
    if (at(i) == '\r' && at(i + 1) == '\n' && at(i + 2) == '\r' && at(i + 3) == '\n') {
      end = i + 4;
      break;
    }
  }
  size_t use = (end ? end : limit) - old;
  if (!buf_.append(in.first(use))) {
    state_ = State::kError;
    return 0;
  }
  if (end) state_ = State::kComplete;
  else if (buf_.size() >= kMaxResponseHead) state_ = State::kError;
  return use;
}

bool check_upgrade_response(std::string_view head, std::string_view key, int& status,
                            std::string& err) {
  status = 0;
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) {
    err = "malformed status line";
    return false;
  }
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    err = "malformed status line";
    return false;
  }
  for (int i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      err = "malformed status line";
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  if (status != 101) {
    err = "status " + std::to_string(status) + " instead of 101";
    return false;
  }
  bool upgrade = false, connection = false, accept_ok = false, accept_seen = false;
  char expected[http::kAcceptKeyLength];
  http::compute_accept_key(key, expected);
  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    if (h.empty()) continue;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) {
      err = "malformed header line";
      return false;
    }
    std::string_view name = h.substr(0, colon), value = trim(h.substr(colon + 1));
    if (ieq(name, "upgrade")) upgrade = upgrade || has_token(value, "websocket");
    else if (ieq(name, "connection")) connection = connection || has_token(value, "upgrade");
    else if (ieq(name, "sec-websocket-accept")) {
      if (accept_seen) {
        err = "Sec-WebSocket-Accept sent twice";
        return false;
      }
      accept_seen = true;
      accept_ok = value == std::string_view(expected, sizeof expected);
    }
  }
  if (!upgrade) err = "no Upgrade: websocket";
  else if (!connection) err = "no Connection: upgrade";
  else if (!accept_ok) err = accept_seen ? "wrong Sec-WebSocket-Accept" : "no Sec-WebSocket-Accept";
  else return true;
  return false;
}

}  // namespace ringway::load
