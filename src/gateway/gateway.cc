#include "gateway/gateway.h"

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "gateway/auth_context.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"
#include "http/handshake.h"
#include "auth/keys.h"
#include "bus/bus.h"
#include "http/responses.h"
#include "io/block.h"
#include "io/conn.h"
#include "io/worker.h"
#include "ws/ws.h"

namespace ringway::gateway {

namespace {
Session& session_of(io::Conn& c) { return *static_cast<Session*>(c.session); }

constexpr std::string_view kEchoPath = "/echo";
constexpr std::string_view kHealthPath = "/healthz";
constexpr std::string_view kMetricsPath = "/metrics";
constexpr std::string_view kStatusPath = "/status";

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
}  // namespace

GatewayOptions GatewayOptions::from(const Config& c) {
  GatewayOptions o;
  o.max_message_size = c.max_message_size;
  o.max_buffered = c.max_buffered;
  o.echo_route = c.echo_route;
  o.ws_path = c.ws_path;
  o.handshake_timeout_ms = c.handshake_timeout_ms;
  o.ping_interval_ms = c.ping_interval_ms;
  o.idle_timeout_ms = c.effective_idle_timeout_ms();
  o.close_timeout_ms = c.close_timeout_ms;
  o.connect_timeout_ms = c.connect_timeout_ms;
  o.auth_timeout_ms = c.auth_timeout_ms;
  o.message_timeout_ms = c.message_timeout_ms;
  o.max_subscriptions = c.max_subscriptions;
  // A delivery (data plus an envelope of at most ~1.3 KiB) must fit under the slow-consumer
  // cut-off, or every recipient of a large message would be cut for it.
  o.max_publish_bytes = std::min(c.max_publish_size,
                                 c.max_buffered > 4096 ? c.max_buffered - 4096 : size_t(1));
  o.request_rate = c.request_rate;
  o.request_burst = c.request_burst;
  o.max_idle_channels = c.max_idle_channels;
  o.drain_spread_ms = c.drain_spread_ms;
  ws::parse_deflate_mode(c.deflate, o.deflate);  // Config::validate has checked the name
  o.deflate_min_size = c.deflate_min_size;
  o.deflate_memory_budget = c.deflate_memory_budget;
  return o;
}

void Gateway::set_count_state(Session& s, CountState to) {
  --state_counts_[size_t(s.counted)];
  ++state_counts_[size_t(to)];
  s.counted = to;
}

void Gateway::count_close(uint16_t code) {
  size_t i = 0;
  while (i < std::size(kCountedCloseCodes) && kCountedCloseCodes[i] != code) ++i;
  ++stats_.closes[i];
}

void Gateway::count_auth(const char* code) {
  for (size_t i = 0; i < kAuthResultSlots; ++i)
    if (std::strcmp(kAuthResultCodes[i], code) == 0) {
      ++stats_.auth_results[i];
      return;
    }
}

void Gateway::on_open(io::Worker& w, io::Conn& c) {
  auto* s = new Session(w.now(), opts_->max_message_size);
  c.session = s;
  ++state_counts_[size_t(CountState::kNone)];  // balanced by the first set_count_state
  set_count_state(*s, CountState::kHttp);
  Ctx x(*this, w, c, *s);
  s->deadline_ms = w.now() + opts_->handshake_timeout_ms;
  w.arm_timer(c, s->deadline_ms);
  if (!take_cap(x, CapKind::kHttp)) respond(x, 503);
}

void Gateway::on_close(io::Worker& w, io::Conn& c) {
  if (!c.session) return;
  Ctx x(*this, w, c, session_of(c));
  if (x.s.route != Route::kNone) log_session_end(w, c, x.s);
  set_count_state(x.s, CountState::kNone);
  --state_counts_[size_t(CountState::kNone)];
  release_gateway_state(x);
  release_caps(x);
  if (x.s.deflate_charge_bits) takeover_bytes_ -= ws::takeover_bytes(x.s.deflate_charge_bits);
  delete &x.s;
  c.session = nullptr;
}

bool Gateway::take_cap(Ctx& x, CapKind kind) {
  if (!caps_.acquire(kind, x.c.peer.addr)) {
    ++stats_.over_address_cap;
    LOG_PEER(kInfo, "%s: over the per-address cap of %u %s connections",
             x.c.peer.to_string().c_str(), caps_.limit(kind),
             kind == CapKind::kHttp ? "HTTP-phase" : kind == CapKind::kEcho ? "echo"
                                                                            : "unauthenticated");
    return false;
  }
  x.s.caps |= uint8_t(1u << unsigned(kind));
  return true;
}

void Gateway::release_caps(Ctx& x) {
  for (unsigned k = 0; k < kCapKinds; ++k)
    if (x.s.caps & (1u << k)) caps_.release(CapKind(k), x.c.peer.addr);
  x.s.caps = 0;
}

void Gateway::on_data(io::Worker& w, io::Conn& c, std::span<const uint8_t> bytes) {
  Session& s = session_of(c);
  Ctx x(*this, w, c, s);
  s.last_rx_ms = w.now();
  s.last_ping_ms = 0;
  switch (s.phase) {
    case Phase::kHttp: http_input(x, bytes); return;
    case Phase::kWebSocket:
    case Phase::kClosing: feed_websocket(x, bytes); return;
    case Phase::kLinger: return;  // our side is finished; input is drained and dropped
  }
}

void Gateway::http_input(Ctx& x, std::span<const uint8_t> bytes) {
  // Requests kept alive on one connection are taken one after another here, never by
  // recursion: an answered request leaves the bytes behind it in replay_.
  in_http_input_ = true;
  ByteBuffer held;
  for (;;) {
    http_step(x, bytes);
    if (replay_.empty()) break;
    if (x.c.closing() || x.s.phase != Phase::kHttp) {
      replay_.clear();
      break;
    }
    held = std::move(replay_);
    bytes = held.span();
  }
  in_http_input_ = false;
}

void Gateway::http_step(Ctx& x, std::span<const uint8_t> bytes) {
  Session& s = x.s;
  if (s.api) {  // an API request's body, or bytes behind one still being answered
    feed_api_body(x, bytes);
    return;
  }
  if (!s.http) s.http = std::make_unique<http::UpgradeParser>();
  size_t used = s.http->feed(bytes);
  switch (s.http->state()) {
    case http::ParseState::kNeedMore: return;
    case http::ParseState::kError:
      LOG_PEER(kInfo, "%s: bad request head: %d", x.c.peer.to_string().c_str(),
               s.http->error_status());
      respond(x, s.http->error_status());
      return;
    case http::ParseState::kComplete: on_request(x, bytes.subspan(used)); return;
  }
}

void Gateway::on_request(Ctx& x, std::span<const uint8_t> rest) {
  const http::Request& req = x.s.http->request();
  io::Worker& w = x.w;
  if (req.path == kHealthPath) {
    if (req.method == "GET" && !w.draining() && opts_->bus && !opts_->bus->healthy()) {
      // The node serves, but what is published elsewhere may not reach it: out of rotation.
      std::string out;
      http::append_response(out, 503, "text/plain", "bus unhealthy\n", false);
      x.s.http.reset();
      if (x.w.send_raw(x.c, {reinterpret_cast<const uint8_t*>(out.data()), out.size()}))
        linger(x, kHttpLingerMs);
      return;
    }
    respond(x, req.method != "GET" ? 405 : w.draining() ? 503 : 200);
    return;
  }
  if (req.path == kMetricsPath && opts_->stats) {
    if (req.method != "GET") {
      respond(x, 405);
      return;
    }
    std::string body, out;
    opts_->stats->prometheus(body);
    http::append_response(out, 200, "text/plain; version=0.0.4", body, false);
    x.s.http.reset();
    if (x.w.send_raw(x.c, {reinterpret_cast<const uint8_t*>(out.data()), out.size()}))
      linger(x, kHttpLingerMs);
    return;
  }
  if (is_api_path(req.path)) {
    on_api_request(x, rest);
    return;
  }
  if (serve_asset(x, req)) return;
  Route route = Route::kNone;
  if (opts_->echo_route && req.path == kEchoPath)
    route = Route::kEcho;
  else if (auth_ && req.path == opts_->ws_path)
    route = Route::kGateway;
  else if (opts_->stats && req.path == kStatusPath)
    route = Route::kStatus;
  if (route == Route::kNone) {
    respond(x, 404);
    return;
  }
  http::UpgradeCheck check = http::check_upgrade(req);
  if (check.status != 0) {
    LOG_PEER(kInfo, "%s: upgrade refused with %d", x.c.peer.to_string().c_str(), check.status);
    respond(x, check.status);
    return;
  }
  // A /status watcher has no identity either: it shares the unauthenticated cap.
  if (w.draining() || (route == Route::kEcho && !take_cap(x, CapKind::kEcho)) ||
      (route == Route::kStatus && !take_cap(x, CapKind::kUnauthenticated))) {
    respond(x, 503);
    return;
  }
  char ext[ws::kMaxDeflateResponse];
  size_t ext_len = route == Route::kStatus ? 0 : negotiate_deflate(x, req, ext, sizeof ext);
  char head[http::kMaxResponseBytes];
  size_t n = http::write_switching_protocols(check.key, head, sizeof head, {ext, ext_len});
  if (n == 0 || !w.send_raw(x.c, {reinterpret_cast<uint8_t*>(head), n})) {
    w.abort(x.c);
    return;
  }
  ++stats_.upgrades;
  x.s.http.reset();  // the request head's memory goes back now
  caps_.release(CapKind::kHttp, x.c.peer.addr);
  x.s.caps &= uint8_t(~(1u << unsigned(CapKind::kHttp)));
  x.s.route = route;
  x.s.phase = Phase::kWebSocket;
  set_count_state(x.s, route == Route::kEcho     ? CountState::kEcho
                       : route == Route::kStatus ? CountState::kStatus
                                                 : CountState::kUnauthenticated);
  if (route == Route::kGateway) {
    open_gateway_route(x);
  } else if (route == Route::kStatus) {
    push_status(x);
  } else {
    schedule(x);
  }
  if (x.s.phase != Phase::kWebSocket) return;
  if (!rest.empty()) feed_websocket(x, rest);  // frames the client pipelined behind the request
}

size_t Gateway::negotiate_deflate(Ctx& x, const http::Request& req, char* ext, size_t cap) {
  if (opts_->deflate == ws::DeflateMode::kOff) return 0;
  constexpr size_t kMaxExtensionHeaders = 8;  // more are ignored (no client sends that many)
  std::string_view values[kMaxExtensionHeaders];
  size_t count = 0;
  for (const http::Header& h : req.headers)
    if (count < kMaxExtensionHeaders && http::equal_ignoring_ascii_case(h.name, "Sec-WebSocket-Extensions"))
      values[count++] = h.value;
  bool takeover = opts_->deflate == ws::DeflateMode::kTakeover;
  bool room = takeover && takeover_bytes_ + ws::kTakeoverBytes <= opts_->deflate_memory_budget;
  ws::DeflateAgreement a = ws::negotiate_deflate({values, count}, opts_->deflate, room);
  size_t n = ws::format_deflate_response(a, ext, cap);
  if (n == 0) return 0;
  x.s.deflate_bits = a.server_window_bits;
  x.s.reader.set_deflate(true);
  if (!a.server_no_context_takeover || !a.client_no_context_takeover) {
    // Without a kept stream (out of memory) the server simply starts each message afresh,
    // which is always allowed.
    z_stream* kept = a.server_no_context_takeover
                         ? nullptr
                         : ws::Deflater::new_stream(
                               std::min(a.server_window_bits, ws::kTakeoverWindowBits),
                               ws::kTakeoverMemLevel);
    if (!x.s.reader.set_takeover(!a.client_no_context_takeover, kept, a.client_window_bits)) {
      x.s.deflate_bits = 0;  // out of memory: not negotiated after all
      x.s.reader.set_deflate(false);
      return 0;
    }
    x.s.deflate_charge_bits = a.client_window_bits;
    takeover_bytes_ += ws::takeover_bytes(a.client_window_bits);
    ++stats_.deflate_takeover;
  }
  ++stats_.deflate_negotiated;
  if (takeover && !room) ++stats_.deflate_takeover_fallbacks;
  return n;
}

void Gateway::respond(Ctx& x, int status) {
  if (status >= 400) ++stats_.http_errors;
  char buf[http::kMaxResponseBytes];
  size_t n = http::write_response(status, buf, sizeof buf);
  x.s.http.reset();
  if (n == 0 || !x.w.send_raw(x.c, {reinterpret_cast<uint8_t*>(buf), n})) {
    x.w.abort(x.c);
    return;
  }
  linger(x, kHttpLingerMs);
}

void Gateway::feed_websocket(Ctx& x, std::span<const uint8_t> bytes) {
  Session& s = x.s;
  ws::ReadResult r = s.reader.feed(bytes, x);
  if (r.reason == ws::kReasonInflatedTooBig) ++stats_.inflate_too_big;
  if (r.reason == ws::kReasonInvalidDeflate) ++stats_.inflate_invalid;
  if (x.c.closing()) return;
  if (r.close_code == ws::close_code::kMessageTooBig && s.gw && s.gw->auth != AuthPhase::kReady) {
    // Before the hello the limit is the pre-auth one, and the protocol calls it a bad request.
    // The reader has stopped at the oversized frame, so a close reply behind it could never be
    // read: close without waiting for one, as for any frame-level failure.
    ++stats_.protocol_errors;
    LOG_PEER(kInfo, "%s: INVALID_REQUEST: first frame over the pre-auth limit",
             x.c.peer.to_string().c_str());
    send_text(x, error_response("", codes::kInvalidRequest,
                                "frame over the pre-auth limit of 64 KiB", false, 0));
    if (s.phase == Phase::kWebSocket) fail(x, ws::close_code::kPolicy, codes::kInvalidRequest);
    return;
  }
  if (r.close_code != 0) {
    ++stats_.protocol_errors;
    LOG_PEER(kInfo, "%s: closing with %u (%s)", x.c.peer.to_string().c_str(), r.close_code,
             r.reason);
    fail(x, r.close_code, r.reason);
    return;
  }
  track_message_deadline(x);
}

void Gateway::track_message_deadline(Ctx& x) {
  Session& s = x.s;
  if (!s.reader.in_progress()) {
    s.msg_started_ms = 0;
    return;
  }
  if (s.msg_started_ms || !opts_->message_timeout_ms || s.phase != Phase::kWebSocket) return;
  s.msg_started_ms = x.w.now();
  // Pull the timer in if it would fire after this message's deadline (once per message).
  uint64_t due = s.msg_started_ms + opts_->message_timeout_ms;
  if (!x.c.timer.armed() || x.c.timer.expiry > due) x.w.arm_timer(x.c, due);
}

void Gateway::linger(Ctx& x, uint64_t for_ms) {
  x.s.phase = Phase::kLinger;
  set_count_state(x.s, CountState::kClosing);
  x.s.deadline_ms = x.w.now() + for_ms;
  x.w.shutdown_after_flush(x.c);
  x.w.arm_timer(x.c, x.s.deadline_ms);
}

void Gateway::finish(Ctx& x) {
  // Everything queued still goes out; then the connection closes. The close deadline bounds a
  // peer that half-closed and stopped reading too.
  uint64_t due = x.w.now() + opts_->close_timeout_ms;
  if (x.s.phase != Phase::kLinger || x.s.deadline_ms > due) x.s.deadline_ms = due;
  x.s.phase = Phase::kLinger;
  set_count_state(x.s, CountState::kClosing);
  x.w.close_after_flush(x.c);
  x.w.arm_timer(x.c, x.s.deadline_ms);
}

void Gateway::note_close(Session& s, uint16_t code, const char* reason, bool by_peer) {
  if (s.close_code || s.close_reason) return;  // the first close is the one that counts
  s.close_code = code;
  s.close_reason = reason;
  s.closed_by_peer = by_peer;
}

void Gateway::log_session_end(io::Worker& w, io::Conn& c, Session& s) {
  // Gateway sessions at info; echo and HTTP connections at debug (benchmarks make millions).
  LogLevel level = s.route == Route::kGateway ? LogLevel::kInfo : LogLevel::kDebug;
  if (level < log_level()) return;
  char conn[40];
  std::snprintf(conn, sizeof conn, "%u-%u-%u", w.index(), c.slot, c.gen);
  LogEvent ev("session_end");
  ev.str("conn", conn).str("remote", c.peer.to_string());
  ev.str("route", s.route == Route::kGateway ? "gateway" : s.route == Route::kEcho ? "echo" : "http");
  if (s.gw && s.gw->auth == AuthPhase::kReady) {
    if (s.gw->who.is_device)
      ev.str("device", auth::hex_lower(s.gw->who.device_id));
    else
      ev.str("service", s.gw->who.service_name);
  }
  ev.num("close_code", s.close_code).str("reason", s.close_reason ? s.close_reason : "");
  ev.str("closed_by", s.close_code || s.close_reason ? (s.closed_by_peer ? "peer" : "server")
                                                      : "transport");
  ev.num("duration_ms", w.now() - s.opened_ms);
  ev.write(level);
}

void Gateway::start_close(Ctx& x, uint16_t code, const char* reason) {
  uint8_t frame[ws::kMaxControlFrameBytes];
  size_t n = ws::encode_close(frame, code, reason);
  if (!x.w.send_final(x.c, {frame, n})) return;  // a close is already queued, or it is gone
  note_close(x.s, code, reason, false);
  count_close(code);
  x.s.phase = Phase::kClosing;
  set_count_state(x.s, CountState::kClosing);
  x.s.deadline_ms = x.w.now() + opts_->close_timeout_ms;
  x.w.arm_timer(x.c, x.s.deadline_ms);
}

void Gateway::fail(Ctx& x, uint16_t code, const char* reason) {
  uint8_t frame[ws::kMaxControlFrameBytes];
  size_t n = ws::encode_close(frame, code, reason);
  // Dropped if a close was already queued: that one stands.
  if (x.w.send_final(x.c, {frame, n})) {
    note_close(x.s, code, reason, false);
    count_close(code);
  }
  if (!x.c.closing()) linger(x, opts_->close_timeout_ms);
}

void Gateway::send_frame(Ctx& x, ws::Opcode op, std::span<const uint8_t> payload) {
  uint8_t head[ws::kMaxServerHeader];
  if (x.s.deflate_bits && payload.size() >= opts_->deflate_min_size) {
    z_stream* kept = x.s.reader.server_stream();
    std::span<const uint8_t> z = kept ? deflater_.compress_with(*kept, payload)
                                      : deflater_.compress(payload, x.s.deflate_bits);
    // A kept stream has this message in its window now: it must go compressed. Otherwise a
    // message that does not shrink goes as it is.
    if (!z.empty() && (kept || z.size() < payload.size())) {
      ++stats_.deflate_messages;
      stats_.deflate_bytes_in += payload.size();
      stats_.deflate_bytes_out += z.size();
      size_t h = ws::encode_header(head, op, z.size(), true, /*rsv1=*/true);
      if (x.w.send_data(x.c, {head, h}, z)) {
        ++stats_.messages_out;
        check_buffered(x);
      }
      return;
    }
  }
  size_t h = ws::encode_header(head, op, payload.size());
  if (x.w.send_data(x.c, {head, h}, payload)) {
    ++stats_.messages_out;
    check_buffered(x);
  }
}

void Gateway::send_text(Ctx& x, std::string_view json) {
  send_frame(x, ws::Opcode::kText, bytes_of(json));
}

void Gateway::send_ping(Ctx& x) {
  uint8_t frame[ws::kMaxControlFrameBytes];
  size_t n = ws::encode_control(frame, ws::Opcode::kPing, {});
  x.w.send_control(x.c, io::ControlKind::kPing, {frame, n});
}

void Gateway::check_buffered(Ctx& x) {
  if (x.w.buffered(x.c) <= opts_->max_buffered || x.s.phase != Phase::kWebSocket) return;
  // The peer is not reading. Drop what it has not been sent (the bytes of a send already in
  // flight stay with the kernel until it completes), tell it why, and stop waiting for it: the
  // close deadline cuts the connection if even the send in flight makes no progress.
  ++stats_.slow_consumers;
  LOG_PEER(kInfo, "%s: slow consumer, %zu bytes unsent", x.c.peer.to_string().c_str(),
           x.w.buffered(x.c));
  x.w.drop_unsent(x.c);
  fail(x, close_code::kSlowConsumer, "slow consumer");
}

void Gateway::schedule(Ctx& x) {
  // One timer per connection: the earliest of ping, idle and a started message's deadline.
  // Traffic does not move it; when it fires, on_timer measures from last_rx_ms and arms it again.
  Session& s = x.s;
  uint64_t next = ~uint64_t(0);
  if (opts_->idle_timeout_ms) next = s.last_rx_ms + opts_->idle_timeout_ms;
  if (opts_->ping_interval_ms) {
    uint64_t from = std::max(s.last_rx_ms, s.last_ping_ms);
    next = std::min(next, from + opts_->ping_interval_ms);
  }
  if (opts_->message_timeout_ms && s.msg_started_ms)
    next = std::min(next, s.msg_started_ms + opts_->message_timeout_ms);
  if (s.drain_pending) next = std::min(next, s.deadline_ms);
  if (s.route == Route::kStatus && !s.drain_pending) next = std::min(next, s.deadline_ms);
  if (next != ~uint64_t(0))
    x.w.arm_timer(x.c, next);
  else
    x.w.cancel_timer(x.c);
}

void Gateway::on_timer(io::Worker& w, io::Conn& c) {
  Session& s = session_of(c);
  Ctx x(*this, w, c, s);
  uint64_t now = w.now();
  switch (s.phase) {
    case Phase::kHttp:
      if (now >= s.deadline_ms) {
        ++stats_.handshake_timeouts;
        LOG_PEER(kInfo, "%s: handshake timeout", c.peer.to_string().c_str());
        w.abort(c);
      } else {
        w.arm_timer(c, s.deadline_ms);
      }
      return;
    case Phase::kClosing:
    case Phase::kLinger:
      if (now >= s.deadline_ms) {
        if (s.phase == Phase::kClosing) {
          ++stats_.close_timeouts;
          LOG_PEER(kInfo, "%s: close timeout", c.peer.to_string().c_str());
        }
        w.abort(c);
      } else {
        w.arm_timer(c, s.deadline_ms);
      }
      return;
    case Phase::kWebSocket: break;
  }
  if (s.drain_pending && now >= s.deadline_ms) {
    start_close(x, ws::close_code::kGoingAway, "server shutting down");
    return;
  }
  if (opts_->message_timeout_ms && s.msg_started_ms &&
      now >= s.msg_started_ms + opts_->message_timeout_ms) {
    ++stats_.message_timeouts;
    LOG_PEER(kInfo, "%s: message not finished within %lu ms", c.peer.to_string().c_str(),
             opts_->message_timeout_ms);
    fail(x, ws::close_code::kPolicy, "message timeout");
    return;
  }
  if (s.gw && s.gw->auth != AuthPhase::kReady) {
    gateway_timer(x, now);
    return;
  }
  if (s.route == Route::kStatus && !s.drain_pending && now >= s.deadline_ms) {
    push_status(x);  // sends and re-arms
    if (c.closing() || s.phase != Phase::kWebSocket) return;
  }
  if (opts_->idle_timeout_ms && now >= s.last_rx_ms + opts_->idle_timeout_ms) {
    ++stats_.idle_timeouts;
    LOG_PEER(kInfo, "%s: idle timeout", c.peer.to_string().c_str());
    start_close(x, close_code::kIdleTimeout, "idle timeout");
    return;
  }
  if (opts_->ping_interval_ms &&
      now >= std::max(s.last_rx_ms, s.last_ping_ms) + opts_->ping_interval_ms) {
    ++stats_.pings_sent;
    s.last_ping_ms = now;
    send_ping(x);
    if (c.closing()) return;
  }
  schedule(x);
}

void Gateway::on_peer_eof(io::Worker& w, io::Conn& c) {
  // FIN: the peer sends nothing more. What is owed still goes out (a response, an echoed close,
  // queued messages); only a connection that owes nothing is closed at once.
  Session& s = session_of(c);
  Ctx x(*this, w, c, s);
  if (s.phase == Phase::kHttp) {  // the request never finished: nothing is owed
    w.abort(c);
    return;
  }
  if (s.phase == Phase::kWebSocket && s.gw && s.gw->auth == AuthPhase::kVerifying) {
    s.peer_done = true;  // the verdict is owed: answer it, then finish (auth deadline bounds it)
    return;
  }
  finish(x);
}

void Gateway::on_drain(io::Worker& w, io::Conn& c) {
  Session& s = session_of(c);
  Ctx x(*this, w, c, s);
  switch (s.phase) {
    case Phase::kHttp:
      // Not yet answered: a 503 now (a request being sent, or none yet, is not served), except
      // an API request whose answer is on its way, which finishes first.
      if (!(s.api && s.api->awaiting)) respond(x, 503);
      return;
    case Phase::kWebSocket:
      if (s.gw && s.gw->auth != AuthPhase::kReady) return;  // its connect is answered first
      schedule_drain_close(x);
      return;
    case Phase::kClosing:
    case Phase::kLinger: return;
  }
}

void Gateway::schedule_drain_close(Ctx& x) {
  uint64_t spread = opts_->drain_spread_ms;
  if (spread == 0) {
    start_close(x, ws::close_code::kGoingAway, "server shutting down");
    return;
  }
  // A uniformly spread moment within the spread (xorshift: it only has to be spread, not secret),
  // so a fleet told to go does not reconnect elsewhere in one burst.
  drain_rng_ ^= drain_rng_ << 13;
  drain_rng_ ^= drain_rng_ >> 7;
  drain_rng_ ^= drain_rng_ << 17;
  x.s.drain_pending = true;
  x.s.deadline_ms = x.w.now() + drain_rng_ % spread;
  if (!x.c.timer.armed() || x.c.timer.expiry > x.s.deadline_ms) x.w.arm_timer(x.c, x.s.deadline_ms);
}

void Gateway::on_mail(io::Worker& w, const io::Mail& m) {
  switch (m.kind) {
    case mail_kind::kVerdict: {
      auto* out = static_cast<auth::VerifyOutcome*>(m.p);
      on_verified(w, *out);
      delete out;
      return;
    }
    case mail_kind::kReload: {
      auto* notice = static_cast<std::shared_ptr<const ReloadNotice>*>(m.p);
      on_reload(w, **notice);
      delete notice;
      return;
    }
    case mail_kind::kPublish: publish_at_sequencer(w, static_cast<PublishJob*>(m.p)); return;
    case bus::kind::kPublished: on_bus_published(w, static_cast<bus::Publish*>(m.p)); return;
    case bus::kind::kWatched: on_bus_watched(w, static_cast<bus::Watch*>(m.p)); return;
    case bus::kind::kMessage: on_bus_message(w, static_cast<bus::Message*>(m.p)); return;
    case bus::kind::kResync: on_bus_resync(w, static_cast<bus::Resync*>(m.p)); return;
    case mail_kind::kPublished: {
      auto* job = static_cast<PublishJob*>(m.p);
      answer_publish(w, *job);
      delete job;
      return;
    }
    case mail_kind::kDeliver: {
      auto* frame = static_cast<io::Block*>(m.p);
      auto zlen = uint32_t(m.b >> 32);
      std::string_view name(reinterpret_cast<const char*>(frame->data()) + m.a + zlen,
                            size_t(uint32_t(m.b)));
      deliver_local(w, name, frame, m.a, zlen, m.c);
      frame->unref();
      return;
    }
    case mail_kind::kOptions: {
      auto* o = static_cast<std::shared_ptr<const GatewayOptions>*>(m.p);
      opts_ = std::move(*o);
      delete o;
      return;
    }
    case mail_kind::kSubscribe: on_subscribe(w, static_cast<SubscribeJob*>(m.p)); return;
    case mail_kind::kSubscribed: on_subscribed(w, static_cast<SubscribeJob*>(m.p)); return;
    default:
      LOG_ERROR("worker %u: unknown mail kind %u", w.index(), m.kind);
      return;
  }
}

void dispose_mail(const io::Mail& m) {
  if (m.kind >= bus::kind::kPublish) {
    if (m.kind == bus::kind::kPublished)  // it carries a publish job of ours
      delete static_cast<PublishJob*>(static_cast<bus::Publish*>(m.p)->cookie);
    bus::dispose(m);
    return;
  }
  switch (m.kind) {
    case mail_kind::kVerdict: delete static_cast<auth::VerifyOutcome*>(m.p); return;
    case mail_kind::kReload: delete static_cast<std::shared_ptr<const ReloadNotice>*>(m.p); return;
    case mail_kind::kPublish:
    case mail_kind::kPublished: delete static_cast<PublishJob*>(m.p); return;
    case mail_kind::kDeliver: static_cast<io::Block*>(m.p)->unref(); return;
    case mail_kind::kSubscribe:
    case mail_kind::kSubscribed: delete static_cast<SubscribeJob*>(m.p); return;
    case mail_kind::kOptions: delete static_cast<std::shared_ptr<const GatewayOptions>*>(m.p); return;
    default: return;
  }
}

// ---- WebSocket events, on the connection being fed ----

void Gateway::Ctx::on_message(ws::Opcode op, std::span<const uint8_t> payload) {
  if (s.phase != Phase::kWebSocket) return;  // closing: data is read and dropped
  ++g.stats_.messages_in;
  if (s.route == Route::kGateway) {
    g.on_gateway_message(*this, op, payload);
    return;
  }
  if (s.route == Route::kStatus) return;  // it only listens
  g.send_frame(*this, op, payload);
}

void Gateway::Ctx::on_ping(std::span<const uint8_t> payload) {
  if (s.phase != Phase::kWebSocket) return;
  // A newer ping's pong replaces one still pending: a ping flood costs one pong per send.
  uint8_t frame[ws::kMaxControlFrameBytes];
  size_t n = ws::encode_control(frame, ws::Opcode::kPong, payload);
  w.send_control(c, io::ControlKind::kPong, {frame, n});
}

void Gateway::Ctx::on_pong(std::span<const uint8_t>) {}

void Gateway::Ctx::on_inflated(size_t compressed, size_t inflated) {
  ++g.stats_.inflate_messages;
  g.stats_.inflate_bytes_in += compressed;
  g.stats_.inflate_bytes_out += inflated;
}

void Gateway::Ctx::on_close(uint16_t code, std::span<const uint8_t>) {
  if (s.phase == Phase::kWebSocket) {
    // Echo the peer's code (an empty close gets an empty close), then close TCP ourselves.
    uint8_t frame[ws::kMaxControlFrameBytes];
    size_t n = ws::encode_close(frame, code, {});
    if (w.send_final(c, {frame, n})) g.count_close(code == 0 ? 1000 : code);
    g.note_close(s, code, "", true);
    if (c.closing()) return;
  }
  g.linger(*this, g.opts_->close_timeout_ms);
}

}  // namespace ringway::gateway
