#pragma once
// ws:// and wss:// URLs for ringway-probe: ws://HOST[:PORT][/PATH[?QUERY]], wss://... (TLS).
//
// HOST is an IPv4 literal, a bracketed IPv6 literal ([::1]) or a host name (resolved with
// getaddrinfo).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringway::probe {

struct WsUrl {
  bool secure = false;  // wss://
  std::string host;   // without brackets for IPv6 literals
  uint16_t port = 80;  // 443 for wss://
  std::string path = "/";  // request target: starts with '/', may hold a query
  bool ipv6_literal = false;

  // The Host header value: host:port, IPv6 literals bracketed.
  std::string host_header() const;
  // Canonical text form, ws://host:port/path (wss://...).
  std::string to_string() const;
};

// Parses text; on failure returns nullopt and sets *error to a sentence saying what is wrong.
std::optional<WsUrl> parse_ws_url(std::string_view text, std::string* error);

}  // namespace ringway::probe
