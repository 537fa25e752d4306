#include "app/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "config/cli_units.h"

namespace ringway::app {

using cli::add_duration;
using cli::add_size;

CliResult parse_command_line(int argc, char** argv, Config& cfg, KeygenOptions& keygen) {
  CLI::App app{"ringway: a WebSocket gateway on per-core io_uring rings"};
  app.set_version_flag("--version", "ringway 0.1.0");
  std::string config_file;
  bool no_direct = false, no_defer = false, no_echo = false, no_msg_ring = false;

  app.add_option("--listen", cfg.listen, "Address to listen on, HOST:PORT or [V6]:PORT (port 0 picks one)")
      ->capture_default_str();
  app.add_option("--workers", cfg.workers, "Worker threads, one ring each (0: one per core)")
      ->capture_default_str();
  add_size(app, "--max-message-size", cfg.max_message_size,
           "Largest WebSocket message accepted; larger closes with 1009 (default 1MiB)");
  add_size(app, "--max-buffered", cfg.max_buffered,
           "Unsent output per connection before it is closed 4003 slow consumer (default 4MiB)");
  app.add_option("--config", config_file, "Configuration file (reserved; not supported yet)");
  app.add_flag("--no-echo", no_echo, "Disable the /echo route");
  app.add_option("--ws-path", cfg.ws_path, "Path of the gateway-protocol route")->capture_default_str();

  app.add_option("--max-subscriptions", cfg.max_subscriptions,
                 "Channels one connection may subscribe to (a device's own channel not counted)")
      ->capture_default_str();
  add_size(app, "--max-publish-size", cfg.max_publish_size,
           "Largest data of a publish or send (default 64KiB)");
  app.add_option("--request-rate", cfg.request_rate,
                 "Requests per second one connection may make after the hello; over it: "
                 "UNAVAILABLE with retryAfterMs")->capture_default_str();
  app.add_option("--request-burst", cfg.request_burst, "Requests one connection may make at once")
      ->capture_default_str();
  app.add_option("--max-idle-channels", cfg.max_idle_channels,
                 "Channels without subscribers whose offsets a worker keeps (older ones restart "
                 "under a new epoch)")->capture_default_str();
  add_duration(app, "--handshake-timeout", cfg.handshake_timeout_ms,
               "TCP accept until the 101 is sent; then TCP is closed (default 10s)");
  add_duration(app, "--connect-timeout", cfg.connect_timeout_ms,
               "101 until a well-formed connect request is parsed on the gateway route (default 10s)");
  add_duration(app, "--auth-timeout", cfg.auth_timeout_ms,
               "Connect request parsed until verification is applied (default 5s)");
  add_duration(app, "--ping-interval", cfg.ping_interval_ms,
               "Silence from the peer after which the server pings; 0 disables pings (default 30s)");
  add_duration(app, "--idle-timeout", cfg.idle_timeout_ms,
               "Silence after which the connection is closed 4002; 0 disables (default 3x ping interval)");
  add_duration(app, "--close-timeout", cfg.close_timeout_ms,
               "After the server's close frame, how long to wait for the peer's (default 5s)");
  add_duration(app, "--message-timeout", cfg.message_timeout_ms,
               "A WebSocket message that has started must finish within this, else close 1008; "
               "0 disables (default 30s)");
  app.add_option("--devices", cfg.devices_file,
                 "Device registry: lines of '<base64url public key> [scope,scope...]' (SIGHUP reloads)");
  app.add_option("--service-tokens", cfg.service_tokens_file,
                 "Service tokens: lines of '<name> <hex SHA-256 of token> [scope,scope...]'");
  app.add_option("--auth-threads", cfg.auth_threads, "Verifier threads (0: 1 per 4 cores, at least 1)");
  app.add_option("--auth-queue", cfg.auth_queue, "Connect requests waiting for a verifier before shedding")
      ->capture_default_str();
  app.add_option("--max-unauthenticated-per-address", cfg.max_unauthenticated_per_address,
                 "Unauthenticated gateway connections one address may hold")->capture_default_str();
  app.add_option("--max-http-per-address", cfg.max_http_per_address,
                 "Connections one address may hold before its request is answered (HTTP phase)")
      ->capture_default_str();
  app.add_option("--max-echo-per-address", cfg.max_echo_per_address,
                 "Open /echo WebSockets one address may hold")->capture_default_str();
  app.add_option("--auth-failure-limit", cfg.auth_failure_limit,
                 "Failed connects per address per window before UNAVAILABLE")->capture_default_str();
  add_duration(app, "--auth-failure-window", cfg.auth_failure_window_ms,
               "Window for --auth-failure-limit (default 60s)");
  app.add_option("--auth-test-delay-us", cfg.auth_test_delay_us,
                 "Testing only: add this many microseconds to every verification (simulates slow auth)");
  app.add_option("--tcp-keepalive-idle", cfg.tcp_keepalive_idle_s,
                 "Seconds of TCP idleness before keepalive probes (0: off)");
  app.add_option("--tcp-keepalive-interval", cfg.tcp_keepalive_interval_s,
                 "Seconds between TCP keepalive probes");
  app.add_option("--tcp-keepalive-count", cfg.tcp_keepalive_count,
                 "Unanswered TCP keepalive probes before the kernel drops the connection");

  app.add_flag("--no-direct-descriptors", no_direct,
               "Accept into ordinary file descriptors instead of the rings' direct descriptor tables");
  app.add_flag("--no-defer-taskrun", no_defer,
               "Do not ask for SINGLE_ISSUER|DEFER_TASKRUN rings");
  app.add_option("--recv-buffers", cfg.recv_buffers, "Receive buffers per worker (power of two)")
      ->capture_default_str();
  app.add_option("--recv-buffer-size", cfg.recv_buffer_size, "Bytes per receive buffer")
      ->capture_default_str();
  app.add_option("--max-connections-per-worker", cfg.max_connections_per_worker,
                 "Cap on connections per worker (0: the descriptor table size)");
  app.add_option("--ring-entries", cfg.ring_entries, "Submission queue entries per ring")
      ->capture_default_str();
  app.add_option("--mail-ring-entries", cfg.mail_ring_entries,
                 "Records in each worker-to-worker mail ring")->capture_default_str();
  app.add_flag("--no-msg-ring", no_msg_ring,
               "Wake workers with eventfds instead of IORING_OP_MSG_RING");
  app.add_option("--log-level", cfg.log_level, "debug, info, warn or error")->capture_default_str();

  CLI::App* kg = app.add_subcommand(
      "keygen", "Write a new Ed25519 device key (mode 0600) and print its registry line");
  kg->add_option("--out", keygen.out, "Private key file to create")->capture_default_str();
  kg->add_option("--scopes", keygen.scopes, "Scopes for the registry line, comma-separated");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? CliResult::kExitOk : CliResult::kExitError;
  }
  if (kg->parsed()) return CliResult::kKeygen;
  if (!config_file.empty()) {
    std::fprintf(stderr, "ringway: --config: configuration files are not supported yet\n");
    return CliResult::kExitError;
  }
  cfg.direct_descriptors = !no_direct;
  cfg.defer_taskrun = !no_defer;
  cfg.echo_route = !no_echo;
  cfg.msg_ring = !no_msg_ring;
  if (std::string err = cfg.validate(); !err.empty()) {
    std::fprintf(stderr, "ringway: %s\n", err.c_str());
    return CliResult::kExitError;
  }
  return CliResult::kRun;
}

}  // namespace ringway::app
