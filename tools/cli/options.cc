// Command-line parsing for ringway-cli (CLI11, the units helpers shared with ringway).
#include "cli/options.h"

#include <CLI/CLI.hpp>

#include <cstdio>

#include "config/cli_units.h"

namespace ringway::cli_tool {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> default_scopes(const Options& o) {
  std::vector<std::string> s;
  switch (o.command) {
    case Command::kSubscribe:
      for (const std::string& c : o.channels) s.push_back("subscribe:" + c);
      break;
    case Command::kPublish: s.push_back("publish:" + o.target); break;
    case Command::kSend: s.push_back("send"); break;
    default: break;
  }
  return s;
}

Parse parse_options(int argc, char** argv, Options& o) {
  CLI::App app{"ringway-cli: talk to a Ringway gateway (subscribe, publish, send, echo, login-test)"};
  app.set_version_flag("--version", "ringway-cli 0.1.0");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--url", o.url, "Gateway URL (default ws://127.0.0.1:8080/ws; /echo for echo)");
  auto* key = app.add_option("--key", o.key_file, "Device key file, as `ringway keygen` writes it");
  auto* token = app.add_option("--token", o.token, "Service token (role service)");
  key->excludes(token);
  std::string scopes;
  app.add_option("--scopes", scopes, "Scopes to request, comma-separated (default: what the command needs)");
  app.add_option("--count", o.count, "subscribe: exit after this many messages");
  cli::add_duration(app, "--timeout", o.timeout_ms,
                    "publish, send, echo, login-test: give up after this long (default 10s)");
  cli::add_duration(app, "--connect-timeout", o.connect_timeout_ms,
                    "Per attempt: TCP, TLS, upgrade and hello (default 15s)");
  cli::add_duration(app, "--backoff-base", o.reconnect.base_ms,
                    "Ceiling of the first reconnect delay (default 500ms)");
  cli::add_duration(app, "--backoff-max", o.reconnect.max_ms,
                    "Largest reconnect delay ceiling (default 30s)");
  cli::add_duration(app, "--drain-spread", o.reconnect.drain_spread_ms,
                    "After close 1001, reconnect within this (default 2s)");
  app.add_option("--ca-file", o.ca_file,
                 "wss://: trust the PEM certificates in this file instead of the system's store");
  app.add_flag("--insecure", o.insecure, "wss://: do not verify the server's certificate (tests only)");
  app.add_flag("--quiet,-q", o.quiet, "Only errors and reconnects on stderr");

  auto* sub = app.add_subcommand("subscribe", "Print each message of the channels as a JSON line");
  sub->add_option("channels", o.channels, "Channels")->required();
  auto* pub = app.add_subcommand("publish", "Publish one message and print the result");
  pub->add_option("channel", o.target, "Channel")->required();
  pub->add_option("data", o.data_json, "The message: one JSON value")->required();
  auto* snd = app.add_subcommand("send", "Send one message to a device and print the result");
  snd->add_option("device", o.target, "Device id (64 lowercase hex)")->required();
  snd->add_option("data", o.data_json, "The message: one JSON value")->required();
  auto* echo = app.add_subcommand("echo", "Send stdin's lines to /echo and print the echoes");
  auto* login = app.add_subcommand("login-test", "Log in, print the hello, exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? Parse::kExitOk : Parse::kExitUsage;
  }
  if (*sub) o.command = Command::kSubscribe;
  else if (*pub) o.command = Command::kPublish;
  else if (*snd) o.command = Command::kSend;
  else if (*echo) o.command = Command::kEcho;
  else if (*login) o.command = Command::kLoginTest;
  if (!scopes.empty()) {
    o.scopes = split_commas(scopes);
    o.scopes_given = true;
  } else {
    o.scopes = default_scopes(o);
  }
  if (o.url.empty())
    o.url = o.command == Command::kEcho ? "ws://127.0.0.1:8080/echo" : "ws://127.0.0.1:8080/ws";
  if (o.command != Command::kEcho && o.key_file.empty() && o.token.empty()) {
    std::fprintf(stderr, "ringway-cli: give --key FILE (a device) or --token T (a service)\n");
    return Parse::kExitUsage;
  }
  return Parse::kRun;
}

}  // namespace ringway::cli_tool
