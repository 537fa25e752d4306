#include "gateway/gateway.h"

#include <algorithm>

#include "common/log.h"
#include "gateway/auth_context.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"
#include "gateway/session.h"
#include "http/handshake.h"
#include "http/responses.h"
#include "io/conn.h"
#include "io/worker.h"
#include "ws/ws.h"

namespace ringway::gateway {

namespace {
Session& session_of(io::Conn& c) { return *static_cast<Session*>(c.session); }

constexpr std::string_view kEchoPath = "/echo";
constexpr std::string_view kHealthPath = "/healthz";
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
  return o;
}

void Gateway::on_open(io::Worker& w, io::Conn& c) {
  worker_ = &w;
  auto* s = new Session(*this, c, w.now(), opts_.max_message_size);
  c.session = s;
  s->deadline_ms = w.now() + opts_.handshake_timeout_ms;
  w.arm_timer(c, s->deadline_ms);
}

void Gateway::on_close(io::Worker& w, io::Conn& c) {
  worker_ = &w;
  release_gateway_state(session_of(c));
  delete static_cast<Session*>(c.session);
  c.session = nullptr;
}

void Gateway::on_data(io::Worker& w, io::Conn& c, std::span<const uint8_t> bytes) {
  worker_ = &w;
  Session& s = session_of(c);
  s.last_rx_ms = w.now();
  s.last_ping_ms = 0;
  switch (s.phase) {
    case Phase::kHttp: {
      if (!s.http) s.http = std::make_unique<http::UpgradeParser>();
      size_t used = s.http->feed(bytes);
      switch (s.http->state()) {
        case http::ParseState::kNeedMore: return;
        case http::ParseState::kError:
          LOG_INFO("%s: bad request head: %d", c.peer.to_string().c_str(), s.http->error_status());
          respond(s, s.http->error_status());
          return;
        case http::ParseState::kComplete: on_request(s, bytes.subspan(used)); return;
      }
      return;
    }
    case Phase::kWebSocket:
    case Phase::kClosing: feed_websocket(s, bytes); return;
    case Phase::kLinger: return;  // our side is finished; input is drained and dropped
  }
}

void Gateway::on_request(Session& s, std::span<const uint8_t> rest) {
  const http::Request& req = s.http->request();
  io::Worker& w = *worker_;
  if (req.path == kHealthPath) {
    respond(s, req.method != "GET" ? 405 : w.draining() ? 503 : 200);
    return;
  }
  Route route = Route::kNone;
  if (opts_.echo_route && req.path == kEchoPath)
    route = Route::kEcho;
  else if (auth_ && req.path == opts_.ws_path)
    route = Route::kGateway;
  if (route == Route::kNone) {
    respond(s, 404);
    return;
  }
  http::UpgradeCheck check = http::check_upgrade(req);
  if (check.status != 0) {
    LOG_INFO("%s: upgrade refused with %d", s.conn.peer.to_string().c_str(), check.status);
    respond(s, check.status);
    return;
  }
  if (w.draining()) {
    respond(s, 503);
    return;
  }
  char head[http::kMaxResponseBytes];
  size_t n = http::write_switching_protocols(check.key, head, sizeof head);
  if (n == 0 || !s.conn.out.append(head, n)) {
    w.abort(s.conn);
    return;
  }
  ++stats_.upgrades;
  s.http.reset();  // the request head's memory goes back now
  s.route = route;
  s.phase = Phase::kWebSocket;
  w.flush(s.conn);
  if (route == Route::kGateway)
    open_gateway_route(s);
  else
    schedule(s);
  if (s.phase != Phase::kWebSocket) return;
  if (!rest.empty()) feed_websocket(s, rest);  // frames the client pipelined behind the request
}

void Gateway::respond(Session& s, int status) {
  if (status >= 400) ++stats_.http_errors;
  char buf[http::kMaxResponseBytes];
  size_t n = http::write_response(status, buf, sizeof buf);
  s.http.reset();
  if (n == 0 || !s.conn.out.append(buf, n)) {
    worker_->abort(s.conn);
    return;
  }
  linger(s, kHttpLingerMs);
}

void Gateway::feed_websocket(Session& s, std::span<const uint8_t> bytes) {
  ws::ReadResult r = s.reader.feed(bytes, s);
  if (r.close_code == ws::close_code::kMessageTooBig && s.gw &&
      s.gw->auth != AuthPhase::kReady) {
    // Before the hello the limit is the pre-auth one, and the protocol calls it a bad request.
    // The reader has stopped at the oversized frame, so a close reply behind it could never be
    // read: close without waiting for one, as for any frame-level failure.
    ++stats_.protocol_errors;
    LOG_INFO("%s: INVALID_REQUEST: first frame over the pre-auth limit",
             s.conn.peer.to_string().c_str());
    send_text(s, error_response("", codes::kInvalidRequest,
                                "frame over the pre-auth limit of 64 KiB", false, 0));
    if (s.phase == Phase::kWebSocket) fail(s, 1008, codes::kInvalidRequest);
    return;
  }
  if (r.close_code != 0) {
    ++stats_.protocol_errors;
    LOG_INFO("%s: closing with %u (%s)", s.conn.peer.to_string().c_str(), r.close_code, r.reason);
    fail(s, r.close_code, r.reason);
  }
}

void Gateway::linger(Session& s, uint64_t for_ms) {
  io::Worker& w = *worker_;
  s.phase = Phase::kLinger;
  s.deadline_ms = w.now() + for_ms;
  w.shutdown_after_flush(s.conn);
  w.arm_timer(s.conn, s.deadline_ms);
}

void Gateway::start_close(Session& s, uint16_t code, std::string_view reason) {
  io::Worker& w = *worker_;
  if (!ws::write_close(s.conn.out, code, reason)) {
    w.abort(s.conn);
    return;
  }
  w.flush(s.conn);
  s.phase = Phase::kClosing;
  s.deadline_ms = w.now() + opts_.close_timeout_ms;
  w.arm_timer(s.conn, s.deadline_ms);
}

void Gateway::fail(Session& s, uint16_t code, std::string_view reason) {
  if (!ws::write_close(s.conn.out, code, reason)) {
    worker_->abort(s.conn);
    return;
  }
  linger(s, opts_.close_timeout_ms);
}

void Gateway::send_control(Session& s, uint8_t opcode, std::span<const uint8_t> payload) {
  scratch_.clear();
  if (!ws::write_frame(scratch_, ws::Opcode(opcode), payload) ||
      !worker_->queue_control(s.conn, scratch_.span())) {
    worker_->abort(s.conn);
    return;
  }
  check_buffered(s);
}

void Gateway::check_buffered(Session& s) {
  if (s.conn.buffered() <= opts_.max_buffered || s.phase != Phase::kWebSocket) return;
  // The peer is not reading. Drop what it has not been sent (the bytes of a send already in
  // flight stay with the kernel until it completes), tell it why, and stop waiting for it.
  ++stats_.slow_consumers;
  LOG_INFO("%s: slow consumer, %zu bytes unsent", s.conn.peer.to_string().c_str(),
           s.conn.buffered());
  s.conn.out.release();
  s.conn.ctrl_len = 0;
  fail(s, 4003, "slow consumer");
}

void Gateway::schedule(Session& s) {
  // One timer per connection: the earliest of ping and idle. Traffic does not move it; when
  // it fires, on_timer measures from last_rx_ms and arms it again.
  uint64_t next = ~uint64_t(0);
  if (opts_.idle_timeout_ms) next = s.last_rx_ms + opts_.idle_timeout_ms;
  if (opts_.ping_interval_ms) {
    uint64_t from = std::max(s.last_rx_ms, s.last_ping_ms);
    next = std::min(next, from + opts_.ping_interval_ms);
  }
  if (next != ~uint64_t(0))
    worker_->arm_timer(s.conn, next);
  else
    worker_->cancel_timer(s.conn);
}

void Gateway::on_timer(io::Worker& w, io::Conn& c) {
  worker_ = &w;
  Session& s = session_of(c);
  uint64_t now = w.now();
  switch (s.phase) {
    case Phase::kHttp:
      if (now >= s.deadline_ms) {
        ++stats_.handshake_timeouts;
        LOG_INFO("%s: handshake timeout", c.peer.to_string().c_str());
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
          LOG_INFO("%s: close timeout", c.peer.to_string().c_str());
        }
        w.abort(c);
      } else {
        w.arm_timer(c, s.deadline_ms);
      }
      return;
    case Phase::kWebSocket: break;
  }
  if (s.gw && s.gw->auth != AuthPhase::kReady) {
    gateway_timer(s, now);
    return;
  }
  if (opts_.idle_timeout_ms && now >= s.last_rx_ms + opts_.idle_timeout_ms) {
    ++stats_.idle_timeouts;
    LOG_INFO("%s: idle timeout", c.peer.to_string().c_str());
    start_close(s, 4002, "idle timeout");
    return;
  }
  if (opts_.ping_interval_ms &&
      now >= std::max(s.last_rx_ms, s.last_ping_ms) + opts_.ping_interval_ms) {
    ++stats_.pings_sent;
    s.last_ping_ms = now;
    send_control(s, uint8_t(ws::Opcode::kPing), {});
    if (s.phase != Phase::kWebSocket || c.has(io::conn_flag::kClosing)) return;
  }
  schedule(s);
}

void Gateway::on_peer_eof(io::Worker& w, io::Conn& c) {
  // FIN: in the handshake nothing is owed; an open WebSocket without a close frame is a
  // half-closed peer and is reaped now; in closing phases this is the end we waited for.
  w.abort(c);
}

void Gateway::on_drain(io::Worker& w, io::Conn& c) {
  worker_ = &w;
  Session& s = session_of(c);
  switch (s.phase) {
    case Phase::kHttp: w.abort(c); return;
    case Phase::kWebSocket: start_close(s, 1001, "server shutting down"); return;
    case Phase::kClosing:
    case Phase::kLinger: return;
  }
}

// ---- WebSocket events, on the session of the connection being fed ----

void Session::on_message(ws::Opcode op, std::span<const uint8_t> payload) {
  if (phase != Phase::kWebSocket) return;  // closing: data is read and dropped
  ++gateway.stats_.messages;
  if (route == Route::kGateway) {
    gateway.on_gateway_message(*this, op, payload);
    return;
  }
  if (!ws::write_frame(conn.out, op, payload)) {
    gateway.worker_->abort(conn);
    return;
  }
  gateway.worker_->flush(conn);
  gateway.check_buffered(*this);
}

void Session::on_ping(std::span<const uint8_t> payload) {
  if (phase != Phase::kWebSocket) return;
  gateway.send_control(*this, uint8_t(ws::Opcode::kPong), payload);
}

void Session::on_pong(std::span<const uint8_t>) {}

void Session::on_close(uint16_t code, std::span<const uint8_t>) {
  if (phase == Phase::kWebSocket) {
    // Echo the peer's code (an empty close gets an empty close), then close TCP ourselves.
    if (!ws::write_close(conn.out, code, {})) {
      gateway.worker_->abort(conn);
      return;
    }
  }
  gateway.linger(*this, gateway.opts_.close_timeout_ms);
}

}  // namespace ringway::gateway
