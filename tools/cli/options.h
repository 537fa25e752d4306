#pragma once
// ringway-cli's command line: the global options (where, who, how to reconnect) and the
// command with its arguments. See docs/clients.md.
#include <cstdint>
#include <string>
#include <vector>

#include "ringway/reconnect.h"

namespace ringway::cli_tool {

enum class Command : uint8_t { kSubscribe, kPublish, kSend, kEcho, kLoginTest };

struct Options {
  Command command = Command::kLoginTest;
  std::string url;  // empty: ws://127.0.0.1:8080/ws (/echo for echo)
  std::string key_file, token;
  std::vector<std::string> scopes;  // empty: what the command needs
  bool scopes_given = false;
  std::vector<std::string> channels;  // subscribe
  std::string target;                 // publish: channel; send: device id
  std::string data_json;              // publish, send
  uint64_t count = 0;                 // subscribe: exit after this many messages (0: never)
  uint64_t timeout_ms = 10000;        // publish, send, echo, login-test: give up after this
  uint64_t connect_timeout_ms = 15000;
  client::ReconnectPolicy reconnect;
  std::string ca_file;    // wss://: trust these PEM certificates instead of the system's
  bool insecure = false;  // wss://: do not check the server's certificate (tests)
  bool quiet = false;  // no informational lines on stderr (errors and reconnects still)
};

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // refused, timed out, connection lost mid-request
inline constexpr int kExitUsage = 2;
inline constexpr int kExitAuth = 3;      // credentials the server will never accept
inline constexpr int kExitTls = 4;       // wss://: the server's certificate was refused, or the
                                         // CA file does not load

enum class Parse : uint8_t { kRun, kExitOk, kExitUsage };
Parse parse_options(int argc, char** argv, Options& out);

// The scopes a command asks for when --scopes is not given.
std::vector<std::string> default_scopes(const Options& o);

}  // namespace ringway::cli_tool
