#include "ws/deflate_negotiation.h"

#include <cstring>

namespace ringway::ws {
namespace {

constexpr std::string_view kExtensionName = "permessage-deflate";

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Takes the part of s before the first `sep` outside a quoted string (all of s when none) and
// leaves s after it. ok turns false on an unterminated quoted string.
std::string_view take_until(std::string_view& s, char sep, bool& ok) {
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == sep) {
      std::string_view part = s.substr(0, i);
      s.remove_prefix(i + 1);
      return part;
    }
  }
  if (quoted) ok = false;
  std::string_view part = s;
  s = {};
  return part;
}

// A parameter value as a token or a quoted string (RFC 6455 §9.1), unquoted into out.
bool unquote(std::string_view v, char* out, size_t cap, size_t& len) {
  len = 0;
  if (v.empty()) return false;
  if (v.front() != '"') {
    if (!is_token(v) || v.size() > cap) return false;
    std::memcpy(out, v.data(), v.size());
    len = v.size();
    return true;
  }
  if (v.size() < 2 || v.back() != '"') return false;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    char c = v[i];
    if (c == '\\') {
      if (++i + 1 >= v.size()) return false;
      c = v[i];
    }
    if (len == cap) return false;
    out[len++] = c;
  }
  // RFC 7692 §7.1.2: the unquoted value must still be a token.
  return is_token({out, len});
}

// 8..15 in decimal without leading zeros (RFC 7692 §7.1.2.1); 0 when not.
uint8_t window_bits(std::string_view v) {
  if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return uint8_t(v[0] - '0');
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return uint8_t(10 + v[1] - '0');
  return 0;
}

struct Offer {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  uint8_t server_max_window_bits = 0;  // 0: not offered
  bool client_max_window_bits = false;
  uint8_t client_max_window_bits_value = 0;  // 0: offered without a value (or not at all)
};

// One element of the extension list. False when it is not a permessage-deflate offer the server
// can accept (another extension, or a parameter that is unknown, repeated or malformed).
bool parse_offer(std::string_view element, Offer& o) {
  if (element.back() == ';') return false;  // a parameter must follow each ';'
  bool ok = true;
  std::string_view rest = element;
  std::string_view name = trim(take_until(rest, ';', ok));
  if (!ok || name.size() != kExtensionName.size() ||
      name.compare(kExtensionName) != 0)  // extension names are compared exactly
    return false;
  bool seen[4] = {};
  while (!rest.empty()) {
    std::string_view param = trim(take_until(rest, ';', ok));
    if (!ok) return false;
    std::string_view value_text;
    bool has_value = false;
    size_t eq = param.find('=');
    if (eq != std::string_view::npos) {
      value_text = trim(param.substr(eq + 1));
      param = trim(param.substr(0, eq));
      has_value = true;
    }
    char buf[8];
    size_t len = 0;
    if (has_value && !unquote(value_text, buf, sizeof buf, len)) return false;
    std::string_view value(buf, len);
    int which;
    if (param == "server_no_context_takeover") {
      which = 0;
      if (has_value) return false;
      o.server_no_context_takeover = true;
    } else if (param == "client_no_context_takeover") {
      which = 1;
      if (has_value) return false;
      o.client_no_context_takeover = true;
    } else if (param == "server_max_window_bits") {
      which = 2;
      o.server_max_window_bits = has_value ? window_bits(value) : 0;
      if (o.server_max_window_bits == 0) return false;
    } else if (param == "client_max_window_bits") {
      which = 3;
      if (has_value && window_bits(value) == 0) return false;
      o.client_max_window_bits = true;
      o.client_max_window_bits_value = has_value ? window_bits(value) : 0;
    } else {
      return false;
    }
    if (seen[which]) return false;
    seen[which] = true;
  }
  return true;
}

void append(char* out, size_t cap, size_t& len, bool& fits, std::string_view s) {
  if (!fits || s.size() > cap - len) {
    fits = false;
    return;
  }
  std::memcpy(out + len, s.data(), s.size());
  len += s.size();
}

}  // namespace

bool parse_deflate_mode(std::string_view text, DeflateMode& out) {
  for (DeflateMode m : {DeflateMode::kOff, DeflateMode::kOn, DeflateMode::kTakeover}) {
    if (text == deflate_mode_name(m)) {
      out = m;
      return true;
    }
  }
  return false;
}

const char* deflate_mode_name(DeflateMode m) {
  switch (m) {
    case DeflateMode::kOff: return "off";
    case DeflateMode::kOn: return "on";
    case DeflateMode::kTakeover: return "takeover";
  }
  return "?";
}

DeflateAgreement negotiate_deflate(std::span<const std::string_view> header_values,
                                   DeflateMode mode, bool takeover_allowed) {
  DeflateAgreement a;
  if (mode == DeflateMode::kOff) return a;
  bool takeover = mode == DeflateMode::kTakeover && takeover_allowed;
  for (std::string_view list : header_values) {
    bool ok = true;
    while (!list.empty() && ok) {
      std::string_view element = trim(take_until(list, ',', ok));
      Offer o;
      if (!ok || element.empty() || !parse_offer(element, o)) continue;
      if (o.server_max_window_bits && o.server_max_window_bits < kMinServerWindowBits) continue;
      a.accepted = true;
      // Asked for, or chosen: without takeover neither side keeps a window between messages.
      a.server_no_context_takeover = !takeover || o.server_no_context_takeover;
      a.client_no_context_takeover = !takeover || o.client_no_context_takeover;
      if (o.server_max_window_bits) {
        a.server_window_bits = o.server_max_window_bits;
        a.answer_server_window_bits = true;
      }
      if (!a.client_no_context_takeover && o.client_max_window_bits) {
        // The client's window is kept for the whole connection: ask for a small one when the
        // client allowed the question (RFC 7692 §7.1.2.2).
        uint8_t offered = o.client_max_window_bits_value ? o.client_max_window_bits_value : 15;
        a.client_window_bits = offered < kKeptClientWindowBits ? offered : kKeptClientWindowBits;
        a.answer_client_window_bits = true;
      }
      return a;
    }
  }
  return a;
}

size_t format_deflate_response(const DeflateAgreement& a, char* out, size_t cap) {
  if (!a.accepted) return 0;
  size_t len = 0;
  bool fits = true;
  append(out, cap, len, fits, kExtensionName);
  if (a.server_no_context_takeover) append(out, cap, len, fits, "; server_no_context_takeover");
  if (a.client_no_context_takeover) append(out, cap, len, fits, "; client_no_context_takeover");
  auto append_bits = [&](std::string_view name, uint8_t value) {
    char digits[2];
    size_t n = 0;
    if (value >= 10) digits[n++] = '1';
    digits[n++] = char('0' + value % 10);
    append(out, cap, len, fits, name);
    append(out, cap, len, fits, {digits, n});
  };
  if (a.answer_server_window_bits) append_bits("; server_max_window_bits=", a.server_window_bits);
  if (a.answer_client_window_bits) append_bits("; client_max_window_bits=", a.client_window_bits);
  return fits ? len : 0;
}

}  // namespace ringway::ws
