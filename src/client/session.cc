// The reconnecting session (include/ringway/session.h). One attempt at a time: connect,
// upgrade, challenge, connect request, hello; then requests and deliveries until the connection
// ends, when the reason decides between stopping (auth that retrying cannot fix) and a delay
// from the Backoff. Timers are deadlines kept here (attempt, liveness, ping, reconnect,
// subscribe retries); the loop sleeps until the nearest one.
#include "ringway/session.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "client/event_loop.h"
#include "client/protocol.h"
#include "client/subscriptions.h"
#include "client/url.h"
#include "client/ws_connection.h"
#include "tls/context.h"

namespace ringway::client {

namespace {

constexpr std::string_view kDisconnected = "DISCONNECTED";
constexpr std::string_view kConnectRequestId = "1";

// Connect refusals that the same request would get again.
bool unfixable(std::string_view code) {
  return code == "DEVICE_UNKNOWN" || code == "SIGNATURE_INVALID" || code == "TOKEN_INVALID" ||
         code == "PROTOCOL_MISMATCH" || code == "DEVICE_ID_MISMATCH" || code == "INVALID_REQUEST";
}

std::string advice(std::string_view code) {
  if (code == "DEVICE_UNKNOWN") return " (the key is not in the server's device registry)";
  if (code == "TOKEN_INVALID") return " (the service token is not in the server's token file)";
  if (code == "SIGNATURE_INVALID") return " (the key file does not match the registered key)";
  if (code == "PROTOCOL_MISMATCH") return " (the server speaks another protocol version)";
  if (code == "REVOKED") return " (the device or token was removed or its scopes changed)";
  if (code == "TLS_CERTIFICATE") return " (trust its CA with the CA file option, or check the URL's host)";
  return "";
}

std::string seconds(uint64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", double(ms) / 1000.0);
  return buf;
}

}  // namespace

const char* status_name(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kNotConnected: return "not connected";
    case Status::kInvalidArgument: return "invalid argument";
    case Status::kOutputFull: return "output buffer full";
    case Status::kStopped: return "stopped";
  }
  return "?";
}

class Session::Impl final : public WsConnection::Owner {
 public:
  Impl(SessionOptions options, SessionCallbacks callbacks)
      : opt_(std::move(options)),
        cb_(std::move(callbacks)),
        own_random_(SplitMix64::from_os()),
        clock_(opt_.clock ? *opt_.clock : own_clock_),
        random_(opt_.random ? *opt_.random : own_random_),
        backoff_(opt_.reconnect, clock_, random_) {}

  ~Impl() override {
    retired_.clear();
    conn_.reset();
  }

  // --- driving --------------------------------------------------------------------------------

  bool start() {
    if (state_ != SessionState::kIdle) return state_ != SessionState::kStopped;
    std::string err;
    auto url = parse_url(opt_.url, err);
    if (!url) return fail_start("BAD_URL", opt_.url + ": " + err);
    if (url->secure) {
      tls_ = tls::ClientContext::make(opt_.tls_insecure, opt_.tls_ca_file, true, err);
      if (!tls_) return fail_start("TLS_CONFIG", err);
    }
    if (!loop_.ok()) return fail_start("INTERNAL", "epoll_create1 failed");
    if (opt_.device && !opt_.token.empty())
      return fail_start("BAD_CREDENTIALS", "give a device key or a service token, not both");
    if (!opt_.device && opt_.token.empty())
      return fail_start("BAD_CREDENTIALS", "no credentials: a device key or a service token");
    url_ = *url;
    connect_now();
    return true;
  }

  bool run_for(uint64_t ms) {
    if (state_ == SessionState::kIdle && !start()) return false;
    uint64_t end = clock_.now_ms() + ms;
    for (;;) {
      on_timers();
      if (state_ == SessionState::kStopped) return false;
      uint64_t now = clock_.now_ms();
      if (now >= end) return true;
      int timeout = next_timeout_ms();
      uint64_t left = end - now;
      if (timeout < 0 || uint64_t(timeout) > left) timeout = int(std::min<uint64_t>(left, 1u << 30));
      if (loop_.wait(timeout) < 0) return fail_start("INTERNAL", "epoll_wait failed"), false;
      retired_.clear();
    }
  }

  void run() {
    while (run_for(1u << 30)) {
    }
  }

  bool poll() {
    if (state_ == SessionState::kIdle && !start()) return false;
    on_timers();
    if (state_ != SessionState::kStopped) loop_.wait(0);
    retired_.clear();
    on_timers();
    return state_ != SessionState::kStopped;
  }

  void stop() {
    switch (state_) {
      case SessionState::kIdle:
      case SessionState::kWaiting:
        state_ = SessionState::kStopped;
        return;
      case SessionState::kConnecting:
      case SessionState::kReady:
        state_ = SessionState::kClosing;
        if (conn_) conn_->close(1000, "");  // before the 101 this ends it at once
        else state_ = SessionState::kStopped;
        return;
      case SessionState::kClosing:
      case SessionState::kStopped: return;
    }
  }

  int next_timeout_ms() const {
    uint64_t at = UINT64_MAX;
    auto consider = [&at](uint64_t t) {
      if (t) at = std::min(at, t);
    };
    switch (state_) {
      case SessionState::kConnecting: consider(attempt_deadline_ms_); break;
      case SessionState::kWaiting: consider(reconnect_at_ms_); break;
      case SessionState::kReady:
        if (conn_) {
          if (liveness_.dead_after_ms) consider(conn_->last_rx_ms() + liveness_.dead_after_ms);
          if (liveness_.ping_after_ms)
            consider(std::max(conn_->last_rx_ms(), last_ping_ms_) + liveness_.ping_after_ms);
        }
        for (const auto& r : sub_retries_) consider(r.first);
        break;
      default: break;
    }
    if (conn_) consider(conn_->deadline_ms());
    if (at == UINT64_MAX) return -1;
    uint64_t now = clock_.now_ms();
    return at <= now ? 0 : int(std::min<uint64_t>(at - now, 1u << 30));
  }

  // --- requests -------------------------------------------------------------------------------

  Status subscribe(std::string_view channel, ReplyHandler done) {
    if (state_ == SessionState::kStopped || state_ == SessionState::kClosing) return Status::kStopped;
    if (!is_channel_name(channel)) return Status::kInvalidArgument;
    subs_.add(channel);
    if (done) sub_handlers_[std::string(channel)] = std::move(done);
    if (state_ != SessionState::kReady) return Status::kNotConnected;
    if (subs_.needs_subscribe(channel) || !in_flight(channel)) return send_subscribe(channel);
    return Status::kOk;
  }

  Status unsubscribe(std::string_view channel, ReplyHandler done) {
    if (state_ == SessionState::kStopped || state_ == SessionState::kClosing) return Status::kStopped;
    if (!is_channel_name(channel)) return Status::kInvalidArgument;
    bool in_flight_sub = in_flight(channel);
    subs_.remove(channel);
    sub_handlers_.erase(std::string(channel));
    std::erase_if(sub_retries_, [&](const auto& r) { return r.second == channel; });
    if (state_ != SessionState::kReady) return Status::kNotConnected;
    // A subscribe still in flight is undone when its answer comes (subscriptions.h).
    if (in_flight_sub && !done) return Status::kOk;
    return request("unsubscribe", channel_params(channel), Pending::kUnsubscribe, channel,
                   std::move(done));
  }

  Status publish(std::string_view channel, std::string_view data, ReplyHandler done) {
    if (!is_channel_name(channel) || !parser_.is_json(data)) return Status::kInvalidArgument;
    return request("publish", publish_params(channel, data), Pending::kOther, "", std::move(done));
  }

  Status send(std::string_view to, std::string_view data, ReplyHandler done) {
    if (!is_device_id(to) || !parser_.is_json(data)) return Status::kInvalidArgument;
    return request("send", send_params(to, data), Pending::kOther, "", std::move(done));
  }

  Status ping(ReplyHandler done) {
    return request("ping", "{}", Pending::kOther, "", std::move(done));
  }

  // --- WsConnection::Owner --------------------------------------------------------------------

  void on_ws_open() override { phase_ = Phase::kChallenge; }

  void on_ws_binary(std::span<const uint8_t>) override {
    log("the server sent a binary message; the gateway protocol has none (ignored)");
  }

  void on_ws_text(std::string_view text) override {
    switch (phase_) {
      case Phase::kChallenge: return on_challenge(text);
      case Phase::kHello: return on_connect_response(text);
      case Phase::kSession: return on_session_message(text);
      case Phase::kUpgrade: return;
    }
  }

  // The state is decided first and the application told afterwards, so a callback that calls
  // stop() (or anything else) sees the session as it now is.
  void on_ws_closed(const WsClose& how) override {
    retired_.push_back(std::move(conn_));
    bool had_session = phase_ == Phase::kSession;
    phase_ = Phase::kUpgrade;
    subs_.on_disconnect();
    sub_retries_.clear();
    auto pending = std::move(pending_);
    pending_.clear();
    Cause cause = std::move(cause_);
    cause_ = Cause{};
    std::string why = describe(how, cause);
    uint64_t session_ms = had_session ? clock_.now_ms() - session_start_ms_ : 0;

    if (state_ == SessionState::kClosing) {  // stop() asked for this
      state_ = SessionState::kStopped;
      notify_end(had_session, how, session_ms, pending);
      return;
    }
    if (how.server_closed && how.code == 4001) {
      cause.fatal = true;
      cause.code = "REVOKED";
      cause.message = "the server revoked this session (close 4001 " + how.reason + ")";
    } else if (how.server_closed && how.code == 1008 && unfixable(how.reason) && !cause.fatal) {
      cause.fatal = true;
      cause.code = how.reason;
      cause.message = "connect refused: " + how.reason;
    } else if (how.certificate_refused) {
      cause.fatal = true;
      cause.code = "TLS_CERTIFICATE";
      cause.message = how.reason;
    } else if (how.http_status >= 400 && how.http_status < 500 && how.http_status != 408 &&
               how.http_status != 429) {
      cause.fatal = true;
      cause.code = "HTTP_" + std::to_string(how.http_status);
      cause.message = "the server answered the upgrade with " + how.reason + " (is the URL " +
                      url_.to_string() + " right?)";
    }
    if (how.server_closed && how.code == 1001 && !cause.fatal) cause.ending = Ending::kDrain;

    ReconnectPlan plan = backoff_.on_end(cause.ending, cause.retry_after_ms);
    if (cause.fatal) {
      state_ = SessionState::kStopped;
      notify_end(had_session, how, session_ms, pending);
      stop_fatal(cause.code, cause.message + advice(cause.code));
      return;
    }
    state_ = SessionState::kWaiting;
    reconnect_at_ms_ = clock_.now_ms() + plan.delay_ms;
    log_reconnect(plan, why);
    notify_end(had_session, how, session_ms, pending);
  }

 private:
  enum class Phase : uint8_t { kUpgrade, kChallenge, kHello, kSession };
  struct Pending {
    enum Kind : uint8_t { kSubscribe, kUnsubscribe, kOther } kind;
    std::string channel;
    ReplyHandler done;
  };
  // Why the current attempt is ending, learnt before the connection closes.
  struct Cause {
    Ending ending = Ending::kFailure;
    uint64_t retry_after_ms = 0;
    bool fatal = false;
    std::string code, message;
  };

  bool fail_start(std::string code, std::string message) {
    state_ = SessionState::kStopped;
    stop_fatal(std::move(code), std::move(message));
    return false;
  }

  void stop_fatal(std::string code, std::string message) {
    state_ = SessionState::kStopped;
    fatal_ = SessionError{std::move(code), std::move(message), true};
    if (cb_.on_error) cb_.on_error(*fatal_);
    else log("stopped: " + fatal_->code + ": " + fatal_->message);
  }

  void log(std::string_view line) {
    if (cb_.on_log) return cb_.on_log(line);
    std::fprintf(stderr, "ringway-client: %.*s\n", int(line.size()), line.data());
  }

  void log_reconnect(const ReconnectPlan& plan, const std::string& why) {
    std::string line;
    if (plan.had_session)
      line = "session lasted " + seconds(plan.session_ms) + " (" + why + ")";
    else
      line = "connect attempt failed (" + why + ")";
    line += "; reconnecting in " + std::to_string(plan.delay_ms) + " ms";
    if (plan.attempt) line += " (attempt " + std::to_string(plan.attempt) + ")";
    else line += " (after a drain)";
    if (plan.reset) line += ", backoff reset";
    log(line);
  }

  static std::string describe(const WsClose& how, const Cause& cause) {
    std::string s;
    if (!cause.code.empty()) {
      s = cause.code + ": " + cause.message;
      if (cause.retry_after_ms) s += " (retry after " + std::to_string(cause.retry_after_ms) + " ms)";
      s += "; ";
    }
    if (how.server_closed)
      s += "server closed " + std::to_string(how.code) + (how.reason.empty() ? "" : " " + how.reason);
    else
      s += how.reason;
    return s;
  }

  void connect_now() {
    state_ = SessionState::kConnecting;
    phase_ = Phase::kUpgrade;
    cause_ = Cause{};
    WsLimits limits;
    limits.max_message = opt_.max_message_bytes;
    limits.max_output = opt_.max_output_bytes;
    limits.close_timeout_ms = opt_.close_timeout_ms;
    conn_ = std::make_unique<WsConnection>(loop_, clock_, *this, limits);
    attempt_deadline_ms_ = clock_.now_ms() + opt_.connect_timeout_ms;
    std::string err;
    if (!conn_->open(url_, err, tls_)) {
      WsClose how{1006, err};
      on_ws_closed(how);
    }
  }

  void on_timers() {
    uint64_t now = clock_.now_ms();
    if (conn_) conn_->on_timer(now);
    switch (state_) {
      case SessionState::kWaiting:
        if (now >= reconnect_at_ms_) connect_now();
        return;
      case SessionState::kConnecting:
        if (conn_ && now >= attempt_deadline_ms_)
          conn_->abort("no hello within " + std::to_string(opt_.connect_timeout_ms) + " ms");
        return;
      case SessionState::kReady: break;
      default: return;
    }
    if (!conn_) return;
    uint64_t last_rx = conn_->last_rx_ms();
    if (liveness_.is_dead(last_rx, now)) {
      conn_->abort("no data from the server for " + std::to_string(now - last_rx) +
                   " ms: dead connection");
      return;
    }
    if (liveness_.ping_after_ms && now >= std::max(last_rx, last_ping_ms_) + liveness_.ping_after_ms) {
      conn_->send_ping();
      last_ping_ms_ = now;
    }
    retry_subscribes(now);
  }

  // --- the opening -----------------------------------------------------------------------------

  void on_challenge(std::string_view text) {
    auto nonce = parse_challenge(text);
    if (!nonce) return on_connect_response(text);  // refused before the challenge (UNAVAILABLE)
    scratch_.clear();
    if (opt_.device)
      append_device_connect_request(scratch_, *opt_.device, *nonce, opt_.scopes, clock_.epoch_ms(),
                                    kConnectRequestId, opt_.client);
    else
      scratch_ = service_connect_request(opt_.token, opt_.scopes, kConnectRequestId, opt_.client);
    phase_ = Phase::kHello;
    conn_->send_text(scratch_);
  }

  void on_connect_response(std::string_view text) {
    ConnectResponse r = parse_connect_response(text);
    if (!r.parsed) return conn_->abort("unexpected message before the hello");
    if (!r.ok) {
      cause_.code = r.code;
      cause_.message = r.message;
      if (unfixable(r.code)) cause_.fatal = true;
      if (r.retryable) cause_.retry_after_ms = r.retry_after_ms;
      // The server closes next (1008, 1011 or 1013); the attempt deadline covers it if not.
      return;
    }
    phase_ = Phase::kSession;
    state_ = SessionState::kReady;
    attempt_deadline_ms_ = 0;
    hello_.conn_id = r.conn_id;
    hello_.role = opt_.device ? "device" : "service";
    hello_.device_id = r.device_id;
    hello_.scopes = r.scopes;
    hello_.max_payload = r.max_payload;
    hello_.max_buffered = r.max_buffered;
    hello_.ping_interval_ms = r.ping_interval_ms;
    hello_.idle_timeout_ms = r.idle_timeout_ms;
    hello_.reconnected = hellos_ > 0;
    ++hellos_;
    liveness_ = Liveness::from_ping_interval(r.ping_interval_ms);
    last_ping_ms_ = 0;
    backoff_.on_session_start(r.idle_timeout_ms);
    session_start_ms_ = clock_.now_ms();
    if (cb_.on_hello) cb_.on_hello(hello_);
    if (state_ != SessionState::kReady) return;
    for (const std::string& ch : subs_.pending()) {
      if (send_subscribe(ch) != Status::kOk) break;
    }
  }

  // --- after the hello -------------------------------------------------------------------------

  bool in_flight(std::string_view channel) const {
    for (const auto& [id, p] : pending_)
      if (p.kind == Pending::kSubscribe && p.channel == channel) return true;
    return false;
  }

  Status request(std::string_view method, const std::string& params, Pending::Kind kind,
                 std::string_view channel, ReplyHandler done) {
    if (state_ == SessionState::kStopped || state_ == SessionState::kClosing) return Status::kStopped;
    if (state_ != SessionState::kReady || !conn_) return Status::kNotConnected;
    std::string id = "r" + std::to_string(next_id_++);
    scratch_.clear();
    append_request(scratch_, id, method, params);
    if (!conn_->send_text(scratch_)) return Status::kOutputFull;
    pending_.emplace(std::move(id), Pending{kind, std::string(channel), std::move(done)});
    return Status::kOk;
  }

  Status send_subscribe(std::string_view channel) {
    Status s = request("subscribe", channel_params(channel), Pending::kSubscribe, channel, {});
    if (s == Status::kOk) subs_.mark_sent(channel);
    return s;
  }

  void retry_subscribes(uint64_t now) {
    if (sub_retries_.empty()) return;
    std::vector<std::string> due;
    std::erase_if(sub_retries_, [&](const auto& r) {
      if (r.first > now) return false;
      due.push_back(r.second);
      return true;
    });
    for (const std::string& ch : due)
      if (subs_.needs_subscribe(ch)) send_subscribe(ch);
  }

  void on_session_message(std::string_view text) {
    ServerMessage m = parser_.parse(text);
    switch (m.kind) {
      case ServerMessage::Kind::kResponse: return on_response(m);
      case ServerMessage::Kind::kDelivery: return on_delivery(m);
      case ServerMessage::Kind::kEvent: return;  // none defined after the hello yet
      case ServerMessage::Kind::kInvalid:
        log("unreadable message from the server (" + std::string(m.why) + ")");
        return;
    }
  }

  void on_delivery(const ServerMessage& m) {
    Subscriptions::Delivery d = subs_.on_delivery(m.channel, m.offset);
    if (d.drop) return;
    if (d.gap && cb_.on_gap) cb_.on_gap(*d.gap);
    if (cb_.on_message) cb_.on_message(m.channel, m.from, m.offset, m.data_json, d.epoch);
  }

  static Reply reply_of(const ServerMessage& m) {
    Reply r;
    r.ok = m.ok;
    r.payload_json = m.payload_json;
    r.code = m.code;
    r.message = m.message;
    r.retryable = m.retryable;
    r.retry_after_ms = m.retry_after_ms;
    return r;
  }

  void on_response(const ServerMessage& m) {
    auto it = pending_.find(m.id);
    if (it == pending_.end()) {
      log("answer to an unknown request id " + m.id);
      return;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (p.kind != Pending::kSubscribe) {
      if (p.done) p.done(reply_of(m));
      return;
    }
    if (m.ok) return on_subscribed(p.channel, m);
    if (m.retryable && subs_.wanted(p.channel)) {  // rate limited: try again when told
      subs_.on_refused(p.channel, true);
      uint64_t wait = std::max<uint64_t>(m.retry_after_ms, 1);
      sub_retries_.emplace_back(clock_.now_ms() + wait, p.channel);
      return;
    }
    subs_.on_refused(p.channel, false);
    auto h = sub_handlers_.extract(p.channel);
    if (!h.empty() && h.mapped()) h.mapped()(reply_of(m));
    if (cb_.on_error)
      cb_.on_error({m.code, "subscribe " + p.channel + " refused: " + m.message, false});
    else
      log("subscribe " + p.channel + " refused: " + m.code + ": " + m.message);
  }

  void on_subscribed(const std::string& channel, const ServerMessage& m) {
    std::string epoch;
    uint64_t offset = 0;
    if (!parse_subscribe_result(m.payload_json, epoch, offset)) {
      log("subscribe answer without epoch and offset for " + channel);
      return;
    }
    Subscriptions::Answer a = subs_.on_answer(channel, epoch, offset);
    if (a.unsubscribe) {  // given up while in flight
      request("unsubscribe", channel_params(channel), Pending::kUnsubscribe, channel, {});
      return;
    }
    auto h = sub_handlers_.extract(channel);
    if (!h.empty() && h.mapped()) h.mapped()(reply_of(m));
    if (cb_.on_subscribed) cb_.on_subscribed({channel, epoch, offset, a.resubscribed});
    if (a.gap && cb_.on_gap) cb_.on_gap(*a.gap);
  }

  // The end of a connection, told to the application: on_disconnect for a session that had
  // its hello, then the requests left without an answer. Subscribes are sent again after the
  // next hello (their handlers wait for that answer); an unsubscribe is done by the disconnect.
  void notify_end(bool had_session, const WsClose& how, uint64_t session_ms,
                  std::unordered_map<std::string, Pending>& pending) {
    if (had_session && cb_.on_disconnect) cb_.on_disconnect(how.code, how.reason, session_ms);
    for (auto& [id, p] : pending) {
      if (p.kind == Pending::kSubscribe || !p.done) continue;
      Reply r;
      if (p.kind == Pending::kUnsubscribe) {
        r.ok = true;
        r.payload_json = "{}";
      } else {
        r.code = kDisconnected;
        r.message = "the connection ended before the answer";
        r.retryable = true;
      }
      p.done(r);
    }
  }

 public:
  SessionOptions opt_;
  SessionCallbacks cb_;
  SystemClock own_clock_;
  SplitMix64 own_random_;
  Clock& clock_;
  Random& random_;
  EventLoop loop_;
  Backoff backoff_;
  Url url_;
  std::shared_ptr<tls::ClientContext> tls_;  // wss://: shared by the attempts (resumption)
  SessionState state_ = SessionState::kIdle;
  Phase phase_ = Phase::kUpgrade;
  std::unique_ptr<WsConnection> conn_;
  std::vector<std::unique_ptr<WsConnection>> retired_;  // freed after the loop's callbacks
  Cause cause_;
  uint64_t attempt_deadline_ms_ = 0;
  uint64_t reconnect_at_ms_ = 0;
  uint64_t last_ping_ms_ = 0;
  uint64_t session_start_ms_ = 0;
  Liveness liveness_;
  Hello hello_;
  unsigned hellos_ = 0;
  std::optional<SessionError> fatal_;
  Subscriptions subs_;
  std::unordered_map<std::string, Pending> pending_;
  std::map<std::string, ReplyHandler, std::less<>> sub_handlers_;
  std::vector<std::pair<uint64_t, std::string>> sub_retries_;  // (when, channel)
  uint64_t next_id_ = 1;
  MessageParser parser_;
  std::string scratch_;
};

Session::Session(SessionOptions options, SessionCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(callbacks))) {}
Session::~Session() = default;

bool Session::start() { return impl_->start(); }
void Session::run() { impl_->run(); }
bool Session::run_for(uint64_t ms) { return impl_->run_for(ms); }
bool Session::poll() { return impl_->poll(); }
void Session::stop() { impl_->stop(); }

Status Session::subscribe(std::string_view channel, ReplyHandler done) {
  return impl_->subscribe(channel, std::move(done));
}
Status Session::unsubscribe(std::string_view channel, ReplyHandler done) {
  return impl_->unsubscribe(channel, std::move(done));
}
Status Session::publish(std::string_view channel, std::string_view data_json, ReplyHandler done) {
  return impl_->publish(channel, data_json, std::move(done));
}
Status Session::send(std::string_view device_id, std::string_view data_json, ReplyHandler done) {
  return impl_->send(device_id, data_json, std::move(done));
}
Status Session::ping(ReplyHandler done) { return impl_->ping(std::move(done)); }

SessionState Session::state() const { return impl_->state_; }
const std::optional<SessionError>& Session::fatal_error() const { return impl_->fatal_; }
const Hello& Session::hello() const { return impl_->hello_; }
std::vector<std::string> Session::subscriptions() const { return impl_->subs_.wanted_list(); }

bool Session::watch_fd(int fd, uint32_t events, std::function<void(uint32_t)> callback) {
  return impl_->loop_.watch(fd, events, std::move(callback));
}
void Session::unwatch_fd(int fd) { impl_->loop_.unwatch(fd); }
int Session::loop_fd() const { return impl_->loop_.fd(); }
int Session::next_timeout_ms() const { return impl_->next_timeout_ms(); }

}  // namespace ringway::client
