#pragma once
// A reconnecting client session with a Ringway gateway (PROTOCOL.md), with its own small event
// loop: no threads, nothing to drive but run(), run_for() or poll() on the caller's thread.
//
//   ringway::client::SessionOptions opt;
//   opt.url = "ws://127.0.0.1:8080/ws";
//   opt.device = identity;                       // or opt.token = "..." for a service
//   opt.scopes = {"subscribe:chat.*", "publish:chat.*"};
//   ringway::client::SessionCallbacks cb;
//   cb.on_message = [](std::string_view channel, std::string_view from, uint64_t offset,
//                      std::string_view data_json, std::string_view epoch) { ... };
//   ringway::client::Session s(opt, cb);
//   s.subscribe("chat.room1");                    // kept across reconnects
//   s.run();                                      // until stop() or an unfixable auth error
//
// The session connects, answers the challenge (device key or service token), and after each
// hello subscribes every channel the application asked for, reporting what it missed in
// between (Gap). It detects a dead connection from the hello's pingIntervalMs (see
// ringway/reconnect.h for the rule and the backoff formula), reconnects with jittered
// exponential backoff, honours retryAfterMs, comes back soon after a drain (1001), and stops
// with a clear error when retrying cannot help (unknown device, bad signature or token,
// protocol mismatch, close 4001 revoked). No exceptions: calls return a Status, results arrive
// in callbacks. Callbacks run inside run()/run_for()/poll(); they may call any method except
// the destructor.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringway/client.h"
#include "ringway/reconnect.h"

namespace ringway::client {

struct SessionOptions {
  std::string url = "ws://127.0.0.1:8080/ws";  // ws:// or wss://
  std::optional<DeviceIdentity> device;        // role "device" ...
  std::string token;                           // ... or role "service" with this token
  std::vector<std::string> scopes;             // requested; the hello says what was granted
  ClientInfo client;
  ReconnectPolicy reconnect;
  // wss:// only. The server's certificate is checked against the system's trust store, or
  // the PEM certificates in tls_ca_file, and must name the URL's host (or its IP address);
  // tls_insecure skips the check (tests only). A refused certificate stops the session
  // (TLS_CERTIFICATE). Reconnects resume the last TLS session when the server allows.
  std::string tls_ca_file;
  bool tls_insecure = false;
  uint64_t connect_timeout_ms = 15000;  // TCP + TLS + upgrade + challenge + hello, per attempt
  uint64_t close_timeout_ms = 2000;     // our close frame sent: wait this long for theirs
  size_t max_message_bytes = size_t{16} << 20;
  size_t max_output_bytes = size_t{8} << 20;  // unsent bytes beyond which requests are refused
  Clock* clock = nullptr;    // null: SystemClock
  Random* random = nullptr;  // null: SplitMix64 seeded by the OS (backoff jitter only)
};

struct Hello {
  std::string conn_id, role, device_id;  // device_id empty for services
  std::vector<std::string> scopes;       // granted
  uint64_t max_payload = 0, max_buffered = 0, ping_interval_ms = 0, idle_timeout_ms = 0;
  bool reconnected = false;  // not the session's first hello
};

// What a subscriber missed. kOffsets: offsets [first, last] of the same history were never
// delivered (the connection was down, or the server skipped them). kEpoch: the channel's
// history was lost on the server (a restart without a bus): whatever followed the last offset
// seen in old_epoch is gone, and offsets [first, last] of new_epoch came before this
// subscription (last < first when there were none).
struct Gap {
  enum class Kind : uint8_t { kOffsets, kEpoch };
  Kind kind = Kind::kOffsets;
  std::string channel;
  std::string old_epoch, new_epoch;
  uint64_t first = 0, last = 0;
};

struct Subscribed {
  std::string channel, epoch;
  uint64_t offset = 0;        // the channel's latest offset: the next message is offset + 1
  bool resubscribed = false;  // an answer after a reconnect
};

struct Reply {
  bool ok = false;
  std::string_view payload_json;  // ok: the result, e.g. {"delivered":1,"offset":7}
  std::string_view code;          // !ok: the server's code, or DISCONNECTED (no answer came)
  std::string_view message;
  bool retryable = false;
  uint64_t retry_after_ms = 0;
};
using ReplyHandler = std::function<void(const Reply&)>;

struct SessionError {
  std::string code;     // DEVICE_UNKNOWN, TOKEN_INVALID, REVOKED, BAD_URL, HTTP_404,
                        // TLS_CERTIFICATE, TLS_CONFIG, ...
  std::string message;  // a sentence for a person
  bool fatal = false;   // the session has stopped
};

struct SessionCallbacks {
  std::function<void(const Hello&)> on_hello;
  std::function<void(std::string_view channel, std::string_view from, uint64_t offset,
                     std::string_view data_json, std::string_view epoch)>
      on_message;
  // A session that had its hello ended. code: the server's close code, 1005 for a close frame
  // without one, 1006 when there was no close frame (EOF, dead connection, local abort).
  std::function<void(uint16_t code, std::string_view reason, uint64_t session_ms)> on_disconnect;
  std::function<void(const SessionError&)> on_error;
  std::function<void(const Subscribed&)> on_subscribed;
  std::function<void(const Gap&)> on_gap;
  // One line per reconnect decision and other noteworthy events; null: written to stderr.
  std::function<void(std::string_view line)> on_log;
};

enum class Status : uint8_t {
  kOk,
  kNotConnected,     // no hello yet (subscribe/unsubscribe are still recorded)
  kInvalidArgument,  // bad channel name, device id or JSON
  kOutputFull,       // over max_output_bytes
  kStopped,
};
const char* status_name(Status s);

enum class SessionState : uint8_t {
  kIdle,        // not started
  kConnecting,  // TCP, upgrade, challenge, connect request in flight
  kReady,       // hello received
  kWaiting,     // backing off before the next attempt
  kClosing,     // stop() called, close handshake in progress
  kStopped,
};

class Session {
 public:
  Session(SessionOptions options, SessionCallbacks callbacks);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the first attempt (run/run_for/poll do it if needed). False, with the error also
  // reported to on_error, when the options cannot work (bad URL, a CA file that does not load,
  // no credentials).
  bool start();
  // Runs until stopped.
  void run();
  // Runs for at most ms; returns false once the session has stopped.
  bool run_for(uint64_t ms);
  // Handles whatever is ready without waiting; returns false once stopped.
  bool poll();
  // Closes the connection (close 1000) and stops; run() returns once the close is done.
  void stop();

  // Subscriptions are kept across reconnects. Before the hello they are recorded and sent with
  // it (kNotConnected is then informational: done is called when the answer comes).
  Status subscribe(std::string_view channel, ReplyHandler done = {});
  Status unsubscribe(std::string_view channel, ReplyHandler done = {});
  // data_json must be one JSON value. Not queued while disconnected: kNotConnected.
  Status publish(std::string_view channel, std::string_view data_json, ReplyHandler done = {});
  Status send(std::string_view device_id, std::string_view data_json, ReplyHandler done = {});
  Status ping(ReplyHandler done = {});

  SessionState state() const;
  bool stopped() const { return state() == SessionState::kStopped; }
  // The error that stopped the session, if one did.
  const std::optional<SessionError>& fatal_error() const;
  // The last hello (valid while kReady).
  const Hello& hello() const;
  std::vector<std::string> subscriptions() const;

  // More descriptors for this loop (stdin, a signalfd, ...). The callback gets epoll events.
  bool watch_fd(int fd, uint32_t events, std::function<void(uint32_t)> callback);
  void unwatch_fd(int fd);
  // The loop's epoll descriptor and the time to its next deadline (-1: none), to nest this
  // session in another event loop: wait for readability or the timeout, then call poll().
  int loop_fd() const;
  int next_timeout_ms() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringway::client
