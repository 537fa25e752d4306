// Parsing of ws:// and wss:// URLs (url.h).
#include "client/url.h"

#include <charconv>

namespace ringway::client {

namespace {

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

std::string host_text(const Url& u) {
  std::string h;
  if (u.ipv6_literal) h += '[';
  h += u.host;
  if (u.ipv6_literal) h += ']';
  return h;
}

}  // namespace

std::string Url::host_header() const {
  std::string h = host_text(*this);
  if (port != (secure ? 443 : 80)) h += ':' + std::to_string(port);
  return h;
}

std::string Url::to_string() const {
  std::string s = secure ? "wss://" : "ws://";
  s += host_text(*this);
  s += ':';
  s += std::to_string(port);
  s += target;
  return s;
}

std::optional<Url> parse_url(std::string_view text, std::string& err) {
  Url u;
  if (text.starts_with("ws://")) {
    text.remove_prefix(5);
  } else if (text.starts_with("wss://")) {
    text.remove_prefix(6);
    u.secure = true;
    u.port = 443;
  } else {
    err = "expected a ws:// or wss:// URL";
    return std::nullopt;
  }
  size_t slash = text.find_first_of("/?#");
  std::string_view authority = text.substr(0, slash);
  std::string_view rest = slash == std::string_view::npos ? "" : text.substr(slash);
  if (rest.starts_with("#") || rest.find('#') != std::string_view::npos) {
    err = "a WebSocket URL has no fragment (#)";
    return std::nullopt;
  }
  if (authority.find('@') != std::string_view::npos) {
    err = "user information in the URL is not supported";
    return std::nullopt;
  }
  std::string_view port_text;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      err = "unterminated [IPv6] host";
      return std::nullopt;
    }
    u.host = std::string(authority.substr(1, close - 1));
    u.ipv6_literal = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        err = "unexpected text after the [IPv6] host";
        return std::nullopt;
      }
      port_text = after.substr(1);
      if (port_text.empty()) {
        err = "empty port";
        return std::nullopt;
      }
    }
    for (char c : u.host)
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
            c == ':' || c == '.')) {
        err = "bad character in the [IPv6] host";
        return std::nullopt;
      }
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) {
        err = "empty port";
        return std::nullopt;
      }
    }
    for (char c : u.host)
      if (!host_char(c)) {
        err = "bad character in the host";
        return std::nullopt;
      }
  }
  if (u.host.empty()) {
    err = "no host in the URL";
    return std::nullopt;
  }
  if (!port_text.empty()) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || v == 0 || v > 65535) {
      err = "port must be 1-65535";
      return std::nullopt;
    }
    u.port = uint16_t(v);
  }
  if (rest.empty()) rest = "/";
  if (rest[0] == '?') u.target = "/" + std::string(rest);
  else u.target = std::string(rest);
  for (char c : u.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      err = "spaces or control characters in the path";
      return std::nullopt;
    }
  return u;
}

}  // namespace ringway::client
