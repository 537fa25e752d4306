#include "probe/url.h"

#include <arpa/inet.h>

#include <cctype>

namespace ringway::probe {

namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

// 'text', quoted for error messages.
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out.append(text);
  out += '\'';
  return out;
}

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

// Host names: letters, digits, '-', '.', '_' (the last for internal names that use it).
bool valid_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '-' || c == '.' || c == '_')) return false;
  }
  return true;
}

// Characters that may appear in a request target we put on the request line verbatim.
bool valid_target_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

}  // namespace

std::string WsUrl::host_header() const {
  std::string out = ipv6_literal ? "[" + host + "]" : host;
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string WsUrl::to_string() const {
  return (secure ? "wss://" : "ws://") + host_header() + path;
}

std::optional<WsUrl> parse_ws_url(std::string_view text, std::string* error) {
  WsUrl url;
  url.secure = iequals_prefix(text, "wss://");
  if (!url.secure && !iequals_prefix(text, "ws://")) {
    fail(error, "the URL must start with ws:// or wss:// (for example ws://127.0.0.1:8080/echo)");
    return std::nullopt;
  }
  if (url.secure) url.port = 443;
  std::string_view rest = text.substr(url.secure ? 6 : 5);
  size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view target = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);

  if (authority.find('@') != std::string_view::npos) {
    fail(error, "user information (user@host) is not supported in the URL; use --header for "
                "credentials");
    return std::nullopt;
  }
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      fail(error, "unterminated IPv6 literal in the URL (missing ']')");
      return std::nullopt;
    }
    url.host = std::string(authority.substr(1, close - 1));
    in6_addr a6;
    if (inet_pton(AF_INET6, url.host.c_str(), &a6) != 1) {
      fail(error, quoted(url.host) + " is not a valid IPv6 address");
      return std::nullopt;
    }
    url.ipv6_literal = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        fail(error, "unexpected text after the IPv6 literal: " + quoted(after));
        return std::nullopt;
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    if (authority.find(':') != authority.rfind(':')) {
      fail(error, "IPv6 addresses must be in brackets: ws://[::1]:8080/");
      return std::nullopt;
    }
    size_t colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) {
      fail(error, "the URL has no host");
      return std::nullopt;
    }
    if (!valid_host_name(host)) {
      fail(error, quoted(host) + " is not a valid host name or address");
      return std::nullopt;
    }
    url.host = std::string(host);
  }
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5) {
      fail(error, "invalid port " + quoted(port_text));
      return std::nullopt;
    }
    uint32_t port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') {
        fail(error, "invalid port " + quoted(port_text));
        return std::nullopt;
      }
      port = port * 10 + uint32_t(c - '0');
    }
    if (port == 0 || port > 65535) {
      fail(error, "port " + std::string(port_text) + " is out of range (1-65535)");
      return std::nullopt;
    }
    url.port = uint16_t(port);
  }
  if (target.find('#') != std::string_view::npos) {
    fail(error, "WebSocket URLs may not carry a fragment ('#')");
    return std::nullopt;
  }
  for (char c : target) {
    if (!valid_target_char(c)) {
      fail(error, "the path may not contain spaces or control characters (percent-encode them)");
      return std::nullopt;
    }
  }
  if (target.empty()) {
    url.path = "/";
  } else if (target.front() == '?') {
    url.path = "/" + std::string(target);
  } else {
    url.path = std::string(target);
  }
  return url;
}

}  // namespace ringway::probe
