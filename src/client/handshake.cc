// Upgrade request and 101 check (handshake.h). The accept key is the server's own function.
#include "client/handshake.h"

#include <openssl/base64.h>

#include <cctype>

#include "http/handshake.h"

namespace ringway::client {

namespace {

bool same_letters(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value lists `token`.
bool lists(std::string_view value, std::string_view token) {
  for (;;) {
    size_t comma = value.find(',');
    if (same_letters(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string websocket_key(const std::array<uint8_t, 16>& nonce) {
  uint8_t out[25];  // 24 characters and the NUL EVP_EncodeBlock writes
  size_t n = EVP_EncodeBlock(out, nonce.data(), nonce.size());
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string upgrade_request(const Url& url, std::string_view key, std::string_view extensions) {
  std::string r;
  r.reserve(160 + url.target.size() + url.host.size());
  r += "GET ";
  r += url.target;
  r += " HTTP/1.1\r\nHost: ";
  r += url.host_header();
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  r += key;
  r += "\r\nSec-WebSocket-Version: 13\r\n";
  if (!extensions.empty()) {
    r += "Sec-WebSocket-Extensions: ";
    r += extensions;
    r += "\r\n";
  }
  r += "\r\n";
  return r;
}

size_t ResponseHead::feed(std::span<const uint8_t> in) {
  if (state_ != State::kNeedMore) return 0;
  for (size_t i = 0; i < in.size(); ++i) {
    head_ += char(in[i]);
    if (head_.size() >= 4 && head_.compare(head_.size() - 4, 4, "\r\n\r\n") == 0) {
      state_ = State::kComplete;
      return i + 1;
    }
    if (head_.size() >= kMaxResponseHead) {
      state_ = State::kTooLong;
      return i + 1;
    }
  }
  return in.size();
}

bool parse_deflate_answer(std::string_view value, ws::DeflateAgreement& out) {
  ws::DeflateAgreement a;
  a.server_no_context_takeover = false;
  a.client_no_context_takeover = false;
  size_t semi = value.find(';');
  if (!same_letters(trim(value.substr(0, semi)), "permessage-deflate")) return false;
  bool seen[4] = {};
  while (semi != std::string_view::npos) {
    value.remove_prefix(semi + 1);
    semi = value.find(';');
    std::string_view param = trim(value.substr(0, semi));
    size_t eq = param.find('=');
    std::string_view name = trim(param.substr(0, eq));
    std::string_view arg = eq == std::string_view::npos ? "" : trim(param.substr(eq + 1));
    if (arg.size() >= 2 && arg.front() == '"' && arg.back() == '"')
      arg = arg.substr(1, arg.size() - 2);
    int which = same_letters(name, "server_no_context_takeover")   ? 0
                : same_letters(name, "client_no_context_takeover") ? 1
                : same_letters(name, "server_max_window_bits")     ? 2
                : same_letters(name, "client_max_window_bits")     ? 3
                                                                   : -1;
    if (which < 0 || seen[which]) return false;
    seen[which] = true;
    if (which < 2) {
      if (eq != std::string_view::npos) return false;
      (which == 0 ? a.server_no_context_takeover : a.client_no_context_takeover) = true;
      continue;
    }
    // A window answer always carries its value: 8..15, no leading zero.
    if (arg.empty() || arg.size() > 2 || arg[0] == '0') return false;
    unsigned bits = 0;
    for (char c : arg) {
      if (c < '0' || c > '9') return false;
      bits = bits * 10 + unsigned(c - '0');
    }
    if (bits < 8 || bits > ws::kMaxWindowBits) return false;
    if (which == 2) {
      a.server_window_bits = uint8_t(bits);
      a.answer_server_window_bits = true;
    } else {
      a.client_window_bits = uint8_t(bits);
      a.answer_client_window_bits = true;
    }
  }
  a.accepted = true;
  out = a;
  return true;
}

UpgradeAnswer check_upgrade_response(std::string_view head, std::string_view key,
                                     bool offered_deflate) {
  UpgradeAnswer a;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 101 Switching Protocols"
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(status_line[9])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[10])) ||
      !std::isdigit(static_cast<unsigned char>(status_line[11]))) {
    a.error = "not an HTTP response";
    return a;
  }
  a.status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  if (a.status != 101) {
    a.error = "HTTP " + std::string(trim(status_line.substr(9)));
    return a;
  }
  char expected[http::kAcceptKeyLength];
  http::compute_accept_key(key, expected);
  bool upgrade = false, connection = false;
  int accepts = 0, extensions = 0;
  bool accept_ok = false, extensions_ok = true;
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      a.error = "malformed header line in the 101";
      return a;
    }
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (same_letters(name, "upgrade")) upgrade = upgrade || lists(value, "websocket");
    if (same_letters(name, "connection")) connection = connection || lists(value, "upgrade");
    if (same_letters(name, "sec-websocket-accept")) {
      ++accepts;
      accept_ok = value == std::string_view(expected, sizeof expected);
    }
    if (same_letters(name, "sec-websocket-extensions")) {
      ++extensions;
      extensions_ok = offered_deflate && parse_deflate_answer(value, a.deflate);
    }
  }
  if (!upgrade) a.error = "101 without Upgrade: websocket";
  else if (!connection) a.error = "101 without Connection: upgrade";
  else if (accepts != 1) a.error = accepts ? "Sec-WebSocket-Accept sent twice" : "101 without Sec-WebSocket-Accept";
  else if (!accept_ok) a.error = "wrong Sec-WebSocket-Accept";
  else if (!extensions_ok || extensions > 1)
    a.error = offered_deflate ? "invalid Sec-WebSocket-Extensions answer"
                              : "Sec-WebSocket-Extensions in the 101, none was offered";
  else a.ok = true;
  return a;
}

}  // namespace ringway::client
