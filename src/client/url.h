#pragma once
// Gateway URLs: ws://HOST[:PORT][/PATH[?QUERY]], and wss:// (parsed, so a caller can say "TLS
// is not supported yet" instead of "bad URL"; the transport decides what it can open).
//
// HOST is an IPv4 literal, a bracketed IPv6 literal or a name (resolved when connecting).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringway::client {

struct Url {
  bool secure = false;  // wss://
  std::string host;     // IPv6 literals without brackets
  uint16_t port = 80;
  std::string target = "/";  // the request target: path and query
  bool ipv6_literal = false;

  // The Host header: host, or host:port when the port is not the scheme's default.
  std::string host_header() const;
  std::string to_string() const;
};

// nullopt with a sentence in err when the text is not such a URL.
std::optional<Url> parse_url(std::string_view text, std::string& err);

}  // namespace ringway::client
