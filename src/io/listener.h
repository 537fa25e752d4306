#pragma once
// Listening sockets: one per worker, all bound to the same address with SO_REUSEPORT so the
// kernel spreads new connections across the workers' rings.
#include <cstdint>
#include <string>
#include <vector>

namespace ringway::io {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0", "::"
  uint16_t port = 0;
};

// Parses "HOST:PORT", "[V6]:PORT" or ":PORT". Returns false with a message on bad input.
bool parse_listen_address(const std::string& text, ListenAddress& out, std::string& err);

struct ListenOptions {
  int backlog = 4096;
  // TCP keepalive, inherited by accepted sockets; 0 leaves the system default (off).
  int keepalive_idle_s = 0;
  int keepalive_interval_s = 0;
  int keepalive_count = 0;
};

// Opens `count` listeners on the same address. With port 0 the first picks a free port and the
// rest reuse it; `bound_port` receives the port in use. Returns an empty vector on failure.
std::vector<int> open_listeners(const ListenAddress& addr, unsigned count,
                                const ListenOptions& opts, uint16_t& bound_port,
                                std::string& err);

}  // namespace ringway::io
