// The gateway route (`--ws-path`, default /ws): challenge, connect request, verification off
// the ring, hello, and the requests a session may make after it.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "auth/keys.h"
#include "common/log.h"
#include "gateway/auth_context.h"
#include "gateway/gateway.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"
#include "gateway/session.h"
#include "io/clock.h"
#include "io/conn.h"
#include "io/worker.h"
#include "ws/ws.h"

namespace ringway::gateway {

namespace {
constexpr std::string_view kServerVersion = "0.1.0";

struct DeviceIdHash {
  size_t operator()(const auth::DeviceId& id) const {
    size_t h;  // the id is a SHA-256: any 8 bytes are already uniformly spread
    std::memcpy(&h, id.data(), sizeof h);
    return h;
  }
};

}  // namespace

void Gateway::open_gateway_route(Session& s) {
  io::Worker& w = *worker_;
  s.gw = std::make_unique<GatewayState>();
  GatewayState& g = *s.gw;
  // Until the hello, a frame may be at most the pre-auth limit (a larger one is refused with
  // INVALID_REQUEST, decided from its header).
  s.reader.set_max_message_size(std::min(opts_.max_message_size, kMaxPreAuthFrame));
  if (!auth_->acquire_unauthenticated(auth::limiter_key(s.conn.peer.addr))) {
    refuse(s, "", codes::kUnavailable, "too many unauthenticated connections from this address",
           1013, auth_->pool().retry_after_ms());
    return;
  }
  g.holds_unauthenticated_slot = true;
  g.nonce = auth::random_nonce();
  send_text(s, challenge_event(g.nonce, io::epoch_ms()));
  s.deadline_ms = w.now() + opts_.connect_timeout_ms;
  w.arm_timer(s.conn, s.deadline_ms);
}

void Gateway::send_text(Session& s, std::string_view json) {
  if (!ws::write_frame(s.conn.out, ws::Opcode::kText,
                       {reinterpret_cast<const uint8_t*>(json.data()), json.size()})) {
    worker_->abort(s.conn);
    return;
  }
  worker_->flush(s.conn);
  check_buffered(s);
}

void Gateway::refuse(Session& s, std::string_view request_id, const char* code,
                     std::string_view message, uint16_t close_code, uint64_t retry_after_ms) {
  LOG_INFO("%s: %s: %.*s", s.conn.peer.to_string().c_str(), code, int(message.size()),
           message.data());
  send_text(s, error_response(request_id, code, message, retry_after_ms != 0, retry_after_ms));
  if (s.phase == Phase::kWebSocket) start_close(s, close_code, code);
}

void Gateway::on_gateway_message(Session& s, ws::Opcode op, std::span<const uint8_t> payload) {
  switch (s.gw->auth) {
    case AuthPhase::kAwaitConnect:
      if (op != ws::Opcode::kText) {
        refuse(s, "", codes::kInvalidRequest, "the first frame must be a text connect request", 1008);
        return;
      }
      on_connect_request(s, payload);
      return;
    case AuthPhase::kVerifying:
      send_text(s, error_response("", codes::kInvalidRequest, "wait for the hello before requests",
                                  false, 0));
      return;
    case AuthPhase::kReady:
      on_request_after_hello(s, payload);
      return;
  }
}

void Gateway::on_connect_request(Session& s, std::span<const uint8_t> payload) {
  io::Worker& w = *worker_;
  GatewayState& g = *s.gw;
  ++stats_.connects;
  ConnectParse parsed = parse_connect(
      {reinterpret_cast<const char*>(payload.data()), payload.size()});
  if (!parsed.ok) {
    refuse(s, parsed.request_id, parsed.error.code, parsed.error.message, 1008);
    return;
  }
  // The connect deadline ends here, before any auth work; only the auth deadline runs now.
  g.auth = AuthPhase::kVerifying;
  g.request_id = parsed.request.id;
  g.is_device = parsed.request.role == Role::kDevice;
  s.deadline_ms = w.now() + opts_.auth_timeout_ms;
  w.arm_timer(s.conn, s.deadline_ms);

  uint64_t retry = 0;
  if (auth_->failures_blocked(auth::limiter_key(s.conn.peer.addr), w.now(), retry)) {
    ++stats_.auth_shed;
    refuse(s, g.request_id, codes::kUnavailable, "too many failed attempts from this address", 1013,
           std::max<uint64_t>(retry, 1));
    return;
  }
  if (w.draining()) {
    refuse(s, g.request_id, codes::kUnavailable, "server shutting down", 1013, 1000);
    return;
  }
  auth::VerifyJob job;
  job.worker = w.index();
  job.slot = s.conn.slot;
  job.gen = s.conn.gen;
  job.enqueued_ms = w.now();
  job.deadline_ms = s.deadline_ms;
  job.credentials = std::move(static_cast<auth::Credentials&>(parsed.request));
  job.challenge_nonce = g.nonce;
  if (auth_->pool().submit(std::move(job)) != auth::VerifierPool::Submit::kQueued) {
    ++stats_.auth_shed;
    refuse(s, g.request_id, codes::kUnavailable, "authentication is overloaded; retry later", 1013,
           auth_->pool().retry_after_ms());
  }
}

void Gateway::on_verified(io::Worker& w, auth::VerifyOutcome&& out) {
  worker_ = &w;
  io::Conn* c = w.find(out.slot, out.gen);
  if (!c) return;  // closed while it was being verified: nothing to answer
  Session& s = *static_cast<Session*>(c->session);
  if (s.phase != Phase::kWebSocket || !s.gw || s.gw->auth != AuthPhase::kVerifying) return;
  GatewayState& g = *s.gw;
  auth::Verdict& v = out.verdict;
  if (!v.ok()) {
    ++stats_.auth_failed;
    auth_->record_failure(auth::limiter_key(c->peer.addr), w.now());
    refuse(s, g.request_id, v.code, v.message, 1008);
    return;
  }
  ++stats_.auth_ok;
  if (g.holds_unauthenticated_slot) {
    auth_->release_unauthenticated(auth::limiter_key(c->peer.addr));
    g.holds_unauthenticated_slot = false;
  }
  g.auth = AuthPhase::kReady;
  g.device_id = v.device_id;
  g.service_name = std::move(v.service_name);
  g.scopes = std::move(v.granted_scopes);
  std::string device_hex = g.is_device ? auth::hex_lower(g.device_id) : std::string();
  char conn_id[32];
  std::snprintf(conn_id, sizeof conn_id, "%u-%u-%u", w.index(), c->slot, c->gen);
  HelloInfo hello;
  hello.server_version = kServerVersion;
  hello.conn_id = conn_id;
  hello.role = g.is_device ? "device" : "service";
  hello.device_id = device_hex;
  hello.scopes = g.scopes;
  hello.max_payload = opts_.max_message_size;
  hello.max_buffered = opts_.max_buffered;
  hello.ping_interval_ms = opts_.ping_interval_ms;
  hello.idle_timeout_ms = opts_.idle_timeout_ms;
  send_text(s, hello_response(g.request_id, hello));
  g.request_id.clear();
  g.request_id.shrink_to_fit();
  g.nonce.clear();
  g.nonce.shrink_to_fit();
  if (g.is_device) device_sessions_.insert(&s);
  s.reader.set_max_message_size(opts_.max_message_size);
  if (s.phase == Phase::kWebSocket) schedule(s);
}

void Gateway::on_request_after_hello(Session& s, std::span<const uint8_t> payload) {
  RequestParse parsed =
      parse_request({reinterpret_cast<const char*>(payload.data()), payload.size()});
  if (!parsed.ok) {
    send_text(s, error_response(parsed.request_id, codes::kInvalidRequest, parsed.error.message,
                                false, 0));
    return;
  }
  const Request& r = parsed.request;
  if (r.method == "ping") {
    send_text(s, ok_response(r.id, "{\"ts\":" + std::to_string(io::epoch_ms()) + "}"));
    return;
  }
  send_text(s, error_response(r.id, codes::kInvalidRequest, "unknown method: " + r.method, false, 0));
}

void Gateway::gateway_timer(Session& s, uint64_t now) {
  GatewayState& g = *s.gw;
  if (now < s.deadline_ms) {
    worker_->arm_timer(s.conn, s.deadline_ms);
    return;
  }
  if (g.auth == AuthPhase::kAwaitConnect) {
    ++stats_.connect_timeouts;
    LOG_INFO("%s: connect timeout", s.conn.peer.to_string().c_str());
    start_close(s, 4000, "connect timeout");
  } else {
    ++stats_.auth_timeouts;
    refuse(s, g.request_id, codes::kAuthTimeout, "verification did not finish in time", 1011);
  }
}

void Gateway::release_gateway_state(Session& s) {
  if (!s.gw) return;
  if (s.gw->holds_unauthenticated_slot)
    auth_->release_unauthenticated(auth::limiter_key(s.conn.peer.addr));
  s.gw->holds_unauthenticated_slot = false;
  device_sessions_.erase(&s);
}

void Gateway::revoke(io::Worker& w, const std::vector<auth::DeviceId>& removed) {
  worker_ = &w;
  if (removed.empty() || device_sessions_.empty()) return;
  std::unordered_set<auth::DeviceId, DeviceIdHash> gone(removed.begin(), removed.end());
  std::vector<Session*> hit;
  for (Session* s : device_sessions_)
    if (gone.count(s->gw->device_id)) hit.push_back(s);
  for (Session* s : hit) {
    ++stats_.revoked;
    device_sessions_.erase(s);
    if (s->phase == Phase::kWebSocket) start_close(*s, 4001, "revoked");
  }
}

}  // namespace ringway::gateway
