#include "load/options.h"

#include "config/cli_units.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "auth/scopes.h"
#include "ringway/config.h"

namespace ringway::load {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kEcho: return "echo";
    case Mode::kConnect: return "connect";
    case Mode::kIdle: return "idle";
    case Mode::kFanout: return "fanout";
    case Mode::kKeys: return "keys";
  }
  return "?";
}

bool parse_mode(std::string_view s, Mode& out) {
  for (Mode m : {Mode::kEcho, Mode::kConnect, Mode::kIdle, Mode::kFanout, Mode::kKeys}) {
    if (s == mode_name(m)) {
      out = m;
      return true;
    }
  }
  return false;
}

bool parse_target(std::string_view s, Target& out) {
  if (s == "ringway") out = Target::kRingway;
  else if (s == "peer") out = Target::kPeer;
  else return false;
  return true;
}

std::string parse_url(std::string_view text, Url& out) {
  out.secure = text.substr(0, 6) == "wss://";
  if (!out.secure && text.substr(0, 5) != "ws://") return "only ws:// and wss:// URLs are supported";
  text.remove_prefix(out.secure ? 6 : 5);
  size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  out.path = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  size_t colon = authority.rfind(':');
  std::string_view host = authority.substr(0, colon);
  unsigned port = out.secure ? 443 : 80;
  if (colon != std::string_view::npos) {
    std::string_view p = authority.substr(colon + 1);
    if (p.empty() || p.size() > 5) return "bad port";
    port = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return "bad port";
      port = port * 10 + unsigned(c - '0');
    }
    if (port == 0 || port > 65535) return "bad port";
  }
  if (host.empty()) return "no host";
  out.host = std::string(host);
  out.port = uint16_t(port);
  out.addr = {};
  out.addr.sin_family = AF_INET;
  out.addr.sin_port = htons(out.port);
  std::string h = host == "localhost" ? "127.0.0.1" : std::string(host);
  if (inet_pton(AF_INET, h.c_str(), &out.addr.sin_addr) != 1)
    return "host must be an IPv4 address or localhost";
  return "";
}

std::string parse_source_addrs(std::string_view text, std::vector<in_addr>& out) {
  out.clear();
  auto addr = [](std::string_view s, uint32_t& host_order) {
    std::string t(s);
    in_addr a{};
    if (inet_pton(AF_INET, t.c_str(), &a) != 1) return false;
    host_order = ntohl(a.s_addr);
    return true;
  };
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    size_t dash = item.find('-');
    uint32_t lo, hi;
    if (!addr(item.substr(0, dash), lo)) return "bad address in '" + std::string(item) + "'";
    hi = lo;
    if (dash != std::string_view::npos && !addr(item.substr(dash + 1), hi))
      return "bad address in '" + std::string(item) + "'";
    if (hi < lo) return "empty range '" + std::string(item) + "'";
    if (hi - lo >= kMaxSourceAddrs || out.size() + (hi - lo) >= kMaxSourceAddrs)
      return "more than 65536 source addresses";
    for (uint64_t a = lo; a <= hi; ++a) {
      in_addr x{};
      x.s_addr = htonl(uint32_t(a));
      out.push_back(x);
    }
  }
  if (out.empty()) return "no addresses";
  return "";
}

using cli::add_duration;

ParseResult parse_options(int argc, char** argv, Options& o) {
  CLI::App app{
      "ringway-load: WebSocket load generator on io_uring (one ring per thread)\n"
      "modes: echo, connect, idle, fanout, keys"};
  app.set_version_flag("--version", "ringway-load 0.1.0");
  std::string mode, source_addrs, scopes, target = "ringway";
  app.add_option("mode", mode, "echo | connect | idle | fanout | keys")->required();
  app.add_option("--url", o.url_texts,
                 "Target, ws://HOST:PORT/PATH or wss://... (default ws://127.0.0.1:8080/echo; /ws "
                 "for connect and fanout; / for fanout --target peer). Repeat it for several "
                 "nodes: connections go to each in turn, fanout's publishers to the first");
  app.add_option("--threads", o.threads, "Threads, one ring each; connections are spread over them")
      ->capture_default_str();
  app.add_option("--connections", o.connections,
                 "Connections (echo 100, idle 1000; connect: concurrent attempts, 100; fanout: "
                 "subscribers, 100)");
  CLI::Option* depth = app.add_option(
      "--depth", o.depth,
      "echo: messages in flight per connection (with --rate: the cap per connection); fanout: "
      "publishes awaiting their response per publisher (default 256)");
  app.add_option("--rate", o.rate,
                 "echo: open loop at this many messages/s in total (0: closed loop); fanout: "
                 "publishes/s in total (default 100)");
  CLI::Option* size = cli::add_size(
      app, "--size", o.size, "echo: payload bytes per message (default 20); fanout: bytes of "
      "each message's JSON data (default 100)");
  app.add_option("--target", target, "fanout: ringway (the gateway's channels) or peer (a "
                 "broadcast server: every message goes to every other connection)")
      ->capture_default_str();
  app.add_option("--publishers", o.publishers, "fanout: publishing connections (the rate is "
                 "split over them)")->capture_default_str();
  app.add_option("--channel", o.channel, "fanout: the channel")->capture_default_str();
  app.add_option("--token", o.token, "fanout: the publishers' service token (without it they "
                 "are devices from --keys)");
  add_duration(app, "--duration", o.duration_ms, "Measured time (default 10s)");
  add_duration(app, "--warmup", o.warmup_ms,
               "Unmeasured time before it (default 2s for echo, 0 otherwise)", &o.warmup_set);
  app.add_option("--connect-rate", o.connect_rate, "New connections per second in total (0: unlimited)");
  app.add_option("--max-connecting", o.max_connecting,
                 "Connection attempts in progress at once (default 512 per thread; connect mode: --connections)");
  app.add_flag("--reconnect", o.reconnect,
               "connect: close each connection right after its hello and connect again (a storm)");
  app.add_flag("--respect-retry", o.respect_retry,
               "Wait retryAfterMs after UNAVAILABLE (default: retry at once)");
  app.add_option("--keys", o.keys_file, "Device keys (one base64url seed per line), used round-robin");
  app.add_option("--scopes", scopes, "Scopes, comma-separated (keys: registry lines; connect: requested)");
  app.add_option("--server-pid", o.server_pids,
                 "Server process: its CPU time and RSS are measured (repeat it for several "
                 "nodes: the sum)");
  app.add_option("--measure-pid", o.other_pids,
                 "Another process (a Redis) whose CPU time over the window is reported on its "
                 "own (other_cpu_s); repeatable");
  app.add_option("--source-addrs", source_addrs,
                 "Bind connections to these source addresses in turn, e.g. 127.0.0.1-127.0.0.16");
  app.add_flag("--json", o.json, "Print one JSON object on stdout at the end");
  app.add_flag("--deflate", o.deflate,
               "Offer permessage-deflate; echo messages go compressed where it is accepted");
  std::string payload = "random";
  app.add_option("--payload", payload,
                 "echo: random (incompressible bytes, the default) or json (device-like JSON)")
      ->check(CLI::IsMember({"random", "json"}));
  add_duration(app, "--ping-interval", o.ping_interval_ms,
               "The server's ping interval on the echo route (dead after 3x silence; default 30s)");
  add_duration(app, "--backoff-min", o.backoff_min_ms, "First reconnect delay base (default 100ms)");
  add_duration(app, "--backoff-max", o.backoff_max_ms, "Longest reconnect delay (default 30s)");
  add_duration(app, "--connect-timeout", o.connect_timeout_ms,
               "Per attempt: TCP connect until ready (101, or the hello) (default 10s)");
  add_duration(app, "--ramp-timeout", o.ramp_timeout_ms,
               "echo/idle: longest wait for every connection to be up (default 120s)");
  add_duration(app, "--close-timeout", o.close_timeout_ms,
               "After our close frame, how long to wait for the server's (default 5s)");
  bool no_direct = false;
  app.add_flag("--no-direct-descriptors", no_direct,
               "Ordinary descriptors instead of each ring's direct-descriptor table");
  app.add_option("--ca-file", o.ca_file, "wss://: trust the PEM certificates in this file");
  app.add_flag("--insecure", o.insecure, "wss://: do not verify the server's certificate");
  app.add_flag("--tls-resume", o.tls_resume,
               "wss://: resume TLS sessions (each handshake offers the newest ticket)");
  app.add_option("--seed", o.seed, "Random seed (0: from the clock)");
  app.add_flag("--quiet", o.quiet, "No progress line and no reconnect log");
  app.add_option("--count", o.key_count, "keys: identities to write");
  app.add_option("--out-keys", o.out_keys, "keys: file of seeds to create (mode 0600)");
  app.add_option("--out-registry", o.out_registry, "keys: registry file to create (for ringway --devices)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? ParseResult::kExitOk : ParseResult::kExitError;
  }
  if (!parse_mode(mode, o.mode)) {
    std::fprintf(stderr, "ringway-load: unknown mode '%s' (echo, connect, idle, fanout, keys)\n",
                 mode.c_str());
    return ParseResult::kExitError;
  }
  if (!parse_target(target, o.target)) {
    std::fprintf(stderr, "ringway-load: --target must be ringway or peer\n");
    return ParseResult::kExitError;
  }
  o.depth_set = depth->count() > 0;
  o.json_payload = payload == "json";
  o.size_set = size->count() > 0;
  o.direct_descriptors = !no_direct;
  if (!source_addrs.empty()) {
    std::string err = parse_source_addrs(source_addrs, o.source_addrs);
    if (!err.empty()) {
      std::fprintf(stderr, "ringway-load: --source-addrs: %s\n", err.c_str());
      return ParseResult::kExitError;
    }
  }
  o.scopes.clear();
  for (size_t pos = 0; pos < scopes.size();) {
    size_t comma = scopes.find(',', pos);
    if (comma == std::string::npos) comma = scopes.size();
    if (comma > pos) o.scopes.push_back(scopes.substr(pos, comma - pos));
    pos = comma + 1;
  }
  std::string err = finish_options(o);
  if (!err.empty()) {
    std::fprintf(stderr, "ringway-load: %s\n", err.c_str());
    return ParseResult::kExitError;
  }
  return ParseResult::kRun;
}

namespace {
std::string finish_fanout(Options& o) {
  if (!o.depth_set) o.depth = 256;
  if (!o.size_set) o.size = 100;
  if (o.rate == 0) o.rate = 100;
  if (o.publishers == 0 || o.publishers > 1024) return "--publishers must be 1..1024";
  if (!auth::valid_channel(o.channel)) return "--channel must be 1-128 of [A-Za-z0-9._:-]";
  if (o.target == Target::kPeer) {
    if (!o.keys_file.empty() || !o.token.empty())
      return "--keys and --token are for --target ringway (peer connections are plain)";
    return "";
  }
  if (o.keys_file.empty())
    return "--target ringway: --keys FILE is required (the subscribers are devices; make one "
           "with `ringway-load keys`)";
  return "";
}
}  // namespace

std::string finish_options(Options& o) {
  if (o.mode == Mode::kKeys) {
    if (o.key_count == 0) return "keys: --count N is required";
    if (o.out_keys.empty() || o.out_registry.empty())
      return "keys: --out-keys and --out-registry are required";
    return "";
  }
  const bool fanout = o.mode == Mode::kFanout;
  if (o.url_texts.empty()) {
    o.url_texts.push_back(o.mode == Mode::kConnect ? "ws://127.0.0.1:8080/ws"
                          : !fanout                ? "ws://127.0.0.1:8080/echo"
                          : o.target == Target::kPeer ? "ws://127.0.0.1:8080/"
                                                      : "ws://127.0.0.1:8080/ws");
  }
  if (o.url_texts.size() > 64) return "--url: at most 64 targets";
  o.urls.clear();
  for (const std::string& text : o.url_texts) {
    Url u;
    if (std::string err = parse_url(text, u); !err.empty()) return "--url " + text + ": " + err;
    o.urls.push_back(std::move(u));
  }
  o.url = o.urls.front();
  for (const Url& u : o.urls)
    if (u.secure != o.url.secure) return "--url: every target is ws:// or every one wss://";
  if (!o.url.secure && (o.insecure || !o.ca_file.empty() || o.tls_resume))
    return "--insecure, --ca-file and --tls-resume are for wss:// URLs";
  if (o.insecure && !o.ca_file.empty()) return "--insecure and --ca-file exclude each other";
  if (o.threads == 0 || o.threads > 256) return "--threads must be 1..256";
  if (o.connections == 0)
    o.connections = o.mode == Mode::kIdle ? 1000 : 100;
  if (fanout) {
    if (std::string err = finish_fanout(o); !err.empty()) return "fanout: " + err;
  }
  if (o.depth == 0) return "--depth must be at least 1";
  if (o.depth > 65536) return "--depth is at most 65536";
  if (o.rate < 0 || o.connect_rate < 0) return "rates cannot be negative";
  if (o.size > (size_t(64) << 20)) return "--size is at most 64MiB";
  if (!o.warmup_set) o.warmup_ms = o.mode == Mode::kEcho || fanout ? 2000 : 0;
  if (o.max_connecting == 0)
    o.max_connecting = o.mode == Mode::kConnect ? o.connections : 512 * uint64_t(o.threads);
  if (o.backoff_min_ms == 0) return "--backoff-min must be above 0";
  if (o.backoff_max_ms < o.backoff_min_ms) return "--backoff-max must be at least --backoff-min";
  if (o.connect_timeout_ms == 0) return "--connect-timeout must be above 0";
  if (o.mode == Mode::kConnect && o.keys_file.empty() && o.url.path.substr(0, 3) == "/ws" &&
      (o.url.path.size() == 3 || o.url.path[3] == '?'))
    return "connect: the gateway route needs --keys FILE (make one with `ringway-load keys`); "
           "without keys, connect to a route that needs no login (e.g. /echo)";
  for (int pid : o.server_pids)
    if (pid <= 0) return "--server-pid must be a process id";
  for (int pid : o.other_pids)
    if (pid <= 0) return "--measure-pid must be a process id";
  return "";
}

}  // namespace ringway::load
