// subscribe, publish, send and login-test on one client::Session. The loop runs in slices so
// the command's own deadlines (--timeout, a publish retried after retryAfterMs) are checked
// between them; the session's own timers are its business.
#include "cli/commands.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "cli/output.h"
#include "client/protocol.h"
#include "ringway/session.h"

namespace ringway::cli_tool {

namespace {

using client::Reply;
using client::Session;
using client::SessionError;

uint64_t now_ms() {
  client::SystemClock c;
  return c.now_ms();
}

int exit_code_for(const SessionError& e) {
  if (e.code == "BAD_URL" || e.code == "BAD_CREDENTIALS") return kExitUsage;
  if (e.code == "TLS_CERTIFICATE" || e.code == "TLS_CONFIG") return kExitTls;
  if (e.code == "DEVICE_UNKNOWN" || e.code == "SIGNATURE_INVALID" || e.code == "TOKEN_INVALID" ||
      e.code == "DEVICE_ID_MISMATCH" || e.code == "PROTOCOL_MISMATCH" || e.code == "REVOKED" ||
      e.code == "INVALID_REQUEST" || e.code == "SCOPE_DENIED")
    return kExitAuth;
  return kExitFailed;
}

// One request (publish or send) made once per hello until it is answered; retried after
// retryAfterMs while the answer is UNAVAILABLE and time remains.
struct OneShot {
  bool in_flight = false, answered = false;
  uint64_t retry_at = 0;
};

}  // namespace

int stop_signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int run_session_command(const Options& o) {
  client::SessionOptions so;
  so.url = o.url;
  so.scopes = o.scopes;
  so.client.name = "ringway-cli";
  so.reconnect = o.reconnect;
  so.connect_timeout_ms = o.connect_timeout_ms;
  so.tls_ca_file = o.ca_file;
  so.tls_insecure = o.insecure;
  if (!o.key_file.empty()) {
    client::DeviceIdentity id;
    std::string err;
    if (!client::load_identity(o.key_file, id, err)) {
      note("error: " + err);
      return kExitUsage;
    }
    so.device = std::move(id);
  } else {
    so.token = o.token;
  }
  client::MessageParser json;
  if (o.command == Command::kPublish && !client::is_channel_name(o.target)) {
    note("error: not a channel name (1-128 of [A-Za-z0-9._:-]): " + o.target);
    return kExitUsage;
  }
  if (o.command == Command::kSend && !client::is_device_id(o.target)) {
    note("error: not a device id (64 lowercase hex): " + o.target);
    return kExitUsage;
  }
  if ((o.command == Command::kPublish || o.command == Command::kSend) && !json.is_json(o.data_json)) {
    note("error: the message is not one JSON value: " + o.data_json);
    return kExitUsage;
  }
  for (const std::string& c : o.channels)
    if (!client::is_channel_name(c)) {
      note("error: not a channel name (1-128 of [A-Za-z0-9._:-]): " + c);
      return kExitUsage;
    }

  int exit_code = kExitOk;
  bool finished = false;
  uint64_t received = 0;
  OneShot shot;
  Session* session = nullptr;
  auto finish = [&](int code) {
    if (finished) return;
    finished = true;
    exit_code = code;
    session->stop();
  };

  bool one_shot = o.command == Command::kPublish || o.command == Command::kSend;
  // publish or send, once the session is ready (again after retryAfterMs if the server asks)
  auto fire = [&] {
    if (!one_shot || finished || shot.in_flight || shot.answered || now_ms() < shot.retry_at) return;
    client::ReplyHandler done = [&](const Reply& r) {
      shot.in_flight = false;
      if (r.ok) {
        std::printf("%.*s\n", int(r.payload_json.size()), r.payload_json.data());
        std::fflush(stdout);
        shot.answered = true;
        return finish(kExitOk);
      }
      if (r.code == "DISCONNECTED") {
        note("error: the connection ended before the answer; the message may or may not have "
             "been delivered");
        return finish(kExitFailed);
      }
      if (r.retryable && r.code == "UNAVAILABLE") {
        note("server busy (" + std::string(r.message) + "); retrying in " +
             std::to_string(r.retry_after_ms) + " ms");
        shot.retry_at = now_ms() + std::max<uint64_t>(r.retry_after_ms, 1);
        return;
      }
      note("error: " + std::string(r.code) + ": " + std::string(r.message));
      finish(r.code == "SCOPE_DENIED" ? kExitAuth : kExitFailed);
    };
    client::Status st = o.command == Command::kPublish ? session->publish(o.target, o.data_json, done)
                                                       : session->send(o.target, o.data_json, done);
    if (st == client::Status::kOk) shot.in_flight = true;
  };


  client::SessionCallbacks cb;
  cb.on_log = [](std::string_view line) { note(line); };
  cb.on_error = [&](const SessionError& e) {
    note("error: " + e.code + ": " + e.message);
    if (e.fatal) {
      finished = true;
      exit_code = exit_code_for(e);
    } else if (o.command == Command::kSubscribe) {
      finish(exit_code_for(e));  // a subscribe refused for good (scope, limits)
    }
  };
  cb.on_hello = [&](const client::Hello& h) {
    if (!o.quiet)
      note(std::string(h.reconnected ? "reconnected" : "connected") + " (connId " + h.conn_id +
           ", ping interval " + std::to_string(h.ping_interval_ms) + " ms)");
    fire();
    if (o.command == Command::kLoginTest) {
      std::printf("%s\n", hello_line(h).c_str());
      std::fflush(stdout);
      finish(kExitOk);
    }
  };
  cb.on_subscribed = [&](const client::Subscribed& s) {
    if (!o.quiet)
      note(std::string(s.resubscribed ? "resubscribed " : "subscribed ") + s.channel + " (epoch " +
           s.epoch + ", offset " + std::to_string(s.offset) + ")");
  };
  cb.on_gap = [](const client::Gap& g) { note(gap_line(g)); };
  cb.on_message = [&](std::string_view channel, std::string_view from, uint64_t offset,
                      std::string_view data, std::string_view epoch) {
    if (o.command != Command::kSubscribe || finished) return;
    std::string line = message_line(channel, from, offset, data, epoch);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (o.count && ++received >= o.count) finish(kExitOk);
  };

  Session s(so, cb);
  session = &s;
  int sig = stop_signal_fd();
  if (sig >= 0)
    s.watch_fd(sig, EPOLLIN, [&](uint32_t) {
      signalfd_siginfo info;
      while (read(sig, &info, sizeof info) == sizeof info) {
      }
      if (!finished) note("stopping");
      finish(exit_code);
    });
  for (const std::string& c : o.channels) s.subscribe(c);

  uint64_t deadline = o.command == Command::kSubscribe ? 0 : now_ms() + o.timeout_ms;
  if (!s.start()) {
    if (sig >= 0) close(sig);
    return exit_code == kExitOk ? kExitUsage : exit_code;
  }
  while (!s.stopped()) {
    uint64_t now = now_ms();
    if (deadline && now >= deadline && !finished) {
      note("error: no answer within " + std::to_string(o.timeout_ms) + " ms");
      finish(kExitFailed);
    }
    if (s.state() == client::SessionState::kReady) fire();
    uint64_t slice = 1000;
    if (deadline && deadline > now) slice = std::min(slice, deadline - now);
    if (shot.retry_at > now) slice = std::min(slice, shot.retry_at - now);
    s.run_for(std::max<uint64_t>(slice, 1));
  }
  if (sig >= 0) close(sig);
  return exit_code;
}

}  // namespace ringway::cli_tool
