// The gateway route (`--ws-path`, default /ws): challenge, connect request, verification off
// the ring, hello, reloads, and the requests a session may make after the hello.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "auth/keys.h"
#include "common/log.h"
#include "gateway/auth_context.h"
#include "gateway/gateway.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"
#include "io/clock.h"
#include "io/conn.h"
#include "io/worker.h"
#include "ws/ws.h"

namespace ringway::gateway {

namespace {
constexpr std::string_view kServerVersion = "0.1.0";

Session& session_of(io::Conn& c) { return *static_cast<Session*>(c.session); }
}  // namespace

size_t Gateway::DeviceIdHash::operator()(const auth::DeviceId& id) const {
  size_t h;  // the id is a SHA-256: any 8 bytes are already uniformly spread
  std::memcpy(&h, id.data(), sizeof h);
  return h;
}

void Gateway::open_gateway_route(Ctx& x) {
  x.s.gw = std::make_unique<GatewayState>();
  GatewayState& g = *x.s.gw;
  // Until the hello, a frame may be at most the pre-auth limit (a larger one is refused with
  // INVALID_REQUEST, decided from its header).
  x.s.reader.set_max_message_size(std::min(opts_->max_message_size, kMaxPreAuthFrame));
  if (!take_cap(x, CapKind::kUnauthenticated)) {
    refuse(x, "", codes::kUnavailable, "too many unauthenticated connections from this address",
           ws::close_code::kTryAgainLater, auth_->pool().retry_after_ms());
    return;
  }
  g.nonce = auth::random_nonce();
  send_text(x, challenge_event(g.nonce, io::epoch_ms()));
  x.s.deadline_ms = x.w.now() + opts_->connect_timeout_ms;
  x.w.arm_timer(x.c, x.s.deadline_ms);
}

void Gateway::refuse(Ctx& x, std::string_view request_id, const char* code,
                     std::string_view message, uint16_t close_code, uint64_t retry_after_ms) {
  LOG_PEER(kInfo, "%s: %s: %.*s", x.c.peer.to_string().c_str(), code, int(message.size()),
           message.data());
  if (x.s.gw && x.s.gw->auth != AuthPhase::kReady) count_auth(code);
  send_text(x, error_response(request_id, code, message, retry_after_ms != 0, retry_after_ms));
  if (x.s.phase == Phase::kWebSocket) start_close(x, close_code, code);
}

void Gateway::on_gateway_message(Ctx& x, ws::Opcode op, std::span<const uint8_t> payload) {
  switch (x.s.gw->auth) {
    case AuthPhase::kAwaitConnect:
      if (op != ws::Opcode::kText) {
        refuse(x, "", codes::kInvalidRequest, "the first frame must be a text connect request",
               ws::close_code::kPolicy);
        return;
      }
      on_connect_request(x, payload);
      return;
    case AuthPhase::kVerifying:
      send_text(x, error_response("", codes::kInvalidRequest, "wait for the hello before requests",
                                  false, 0));
      return;
    case AuthPhase::kReady:
      on_request_after_hello(x, payload);
      return;
  }
}

void Gateway::on_connect_request(Ctx& x, std::span<const uint8_t> payload) {
  io::Worker& w = x.w;
  GatewayState& g = *x.s.gw;
  ++stats_.connects;
  ConnectParse parsed = parse_connect(
      {reinterpret_cast<const char*>(payload.data()), payload.size()});
  if (!parsed.ok) {
    refuse(x, parsed.request_id, parsed.error.code, parsed.error.message, ws::close_code::kPolicy);
    return;
  }
  // The connect deadline ends here, before any auth work; only the auth deadline runs now.
  g.auth = AuthPhase::kVerifying;
  g.request_id = parsed.request.id;
  g.who.is_device = parsed.request.role == Role::kDevice;
  x.s.deadline_ms = w.now() + opts_->auth_timeout_ms;
  w.arm_timer(x.c, x.s.deadline_ms);

  uint64_t retry = 0;
  if (auth_->failures_blocked(x.c.peer.addr, w.now(), retry)) {
    ++stats_.auth_shed;
    refuse(x, g.request_id, codes::kUnavailable, "too many failed attempts from this address",
           ws::close_code::kTryAgainLater, std::max<uint64_t>(retry, 1));
    return;
  }
  if (w.draining()) {
    refuse(x, g.request_id, codes::kUnavailable, "server shutting down",
           ws::close_code::kTryAgainLater, 1000);
    return;
  }
  auth::VerifyJob job;
  job.worker = w.index();
  job.slot = x.c.slot;
  job.gen = x.c.gen;
  job.enqueued_ms = w.now();
  job.deadline_ms = x.s.deadline_ms;
  job.credentials = std::move(static_cast<auth::Credentials&>(parsed.request));
  job.challenge_nonce = g.nonce;
  if (auth_->pool().submit(std::move(job)) != auth::VerifierPool::Submit::kQueued) {
    ++stats_.auth_shed;
    refuse(x, g.request_id, codes::kUnavailable, "authentication is overloaded; retry later",
           ws::close_code::kTryAgainLater, auth_->pool().retry_after_ms());
  }
}

void Gateway::on_verified(io::Worker& w, auth::VerifyOutcome& out) {
  io::Conn* c = w.find(out.slot, out.gen);
  if (!c) return;  // closed while it was being verified: nothing to answer
  Session& s = session_of(*c);
  if (s.phase != Phase::kWebSocket || !s.gw || s.gw->auth != AuthPhase::kVerifying) return;
  Ctx x(*this, w, *c, s);
  GatewayState& g = *s.gw;
  auth::Verdict& v = out.verdict;
  if (v.ok()) {
    g.who.device_id = v.device_id;
    g.who.service_name = std::move(v.service_name);
    g.who.token_digest = v.token_digest;
    // Checked against a registry a reload has since replaced: check again against the current
    // one (a look-up, no signature), so a removed device or token never gets a hello.
    g.checked_generation = v.generation;
    if (v.generation != auth_->pool().generation()) {
      std::vector<std::string> grants;
      if (!auth::recheck(*auth_->pool().identity(), g.who, v.granted_scopes, grants)) {
        v.code = g.who.is_device ? codes::kDeviceUnknown : codes::kTokenInvalid;
        v.message = g.who.is_device ? "public key is not registered"
                                    : "service token missing or wrong";
      } else {
        v.granted_scopes = std::move(grants);
        g.checked_generation = auth_->pool().generation();
      }
    }
  }
  if (!v.ok()) {
    ++stats_.auth_failed;
    auth_->record_failure(c->peer.addr, w.now());
    refuse(x, g.request_id, v.code, v.message, ws::close_code::kPolicy);
    if (s.peer_done) finish(x);
    return;
  }
  ++stats_.auth_ok;
  if (s.caps & (1u << unsigned(CapKind::kUnauthenticated))) {
    caps_.release(CapKind::kUnauthenticated, c->peer.addr);
    s.caps &= uint8_t(~(1u << unsigned(CapKind::kUnauthenticated)));
  }
  g.scopes = std::move(v.granted_scopes);
  std::string device_hex = g.who.is_device ? auth::hex_lower(g.who.device_id) : std::string();
  char conn_id[32];
  std::snprintf(conn_id, sizeof conn_id, "%u-%u-%u", w.index(), c->slot, c->gen);
  HelloInfo hello;
  hello.server_version = kServerVersion;
  hello.conn_id = conn_id;
  hello.role = g.who.is_device ? "device" : "service";
  hello.device_id = device_hex;
  hello.scopes = g.scopes;
  hello.max_payload = opts_->max_message_size;
  hello.max_buffered = opts_->max_buffered;
  hello.ping_interval_ms = opts_->ping_interval_ms;
  hello.idle_timeout_ms = opts_->idle_timeout_ms;
  g.hello = hello_response(g.request_id, hello);
  g.nonce.clear();
  g.nonce.shrink_to_fit();
  if (!g.who.is_device) {
    send_hello(x);
    return;
  }
  // A device's hello waits until its own channel (device:<id>) is counted at that channel's
  // sequencer: from the hello on, a direct message to it is delivered.
  auto* job = new SubscribeJob;
  job->channel = "device:" + device_hex;
  job->origin_worker = w.index();
  job->slot = c->slot;
  job->gen = c->gen;
  job->internal = true;
  g.pending.push_back(job->channel);
  submit_subscribe(w, job);
}

void Gateway::send_hello(Ctx& x) {
  GatewayState& g = *x.s.gw;
  if (g.auth != AuthPhase::kVerifying) return;
  if (g.checked_generation != auth_->pool().generation()) {
    // A reload landed while the device's channel was being set up: check once more.
    std::vector<std::string> grants;
    if (!auth::recheck(*auth_->pool().identity(), g.who, g.scopes, grants)) {
      ++stats_.auth_failed;
      refuse(x, g.request_id, g.who.is_device ? codes::kDeviceUnknown : codes::kTokenInvalid,
             "no longer registered", ws::close_code::kPolicy);
      return;
    }
    if (grants != g.scopes) {  // the hello is not out yet: it can carry the narrower grant
      g.scopes = std::move(grants);
      refuse(x, g.request_id, codes::kUnavailable, "credentials changed during the connect; retry",
             ws::close_code::kTryAgainLater, 100);
      return;
    }
  }
  g.auth = AuthPhase::kReady;
  count_auth("OK");
  set_count_state(x.s, CountState::kSession);
  send_text(x, g.hello);
  g.hello.clear();
  g.hello.shrink_to_fit();
  g.request_id.clear();
  g.request_id.shrink_to_fit();
  index_session(x.c, g);
  x.s.reader.set_max_message_size(opts_->max_message_size);
  if (x.s.peer_done) {
    finish(x);
    return;
  }
  if (x.w.draining()) {  // the drain began while it was being verified
    schedule_drain_close(x);
    return;
  }
  if (x.s.phase == Phase::kWebSocket) schedule(x);
}

void Gateway::gateway_timer(Ctx& x, uint64_t now) {
  GatewayState& g = *x.s.gw;
  if (now < x.s.deadline_ms) {
    x.w.arm_timer(x.c, x.s.deadline_ms);
    return;
  }
  if (g.auth == AuthPhase::kAwaitConnect) {
    ++stats_.connect_timeouts;
    LOG_PEER(kInfo, "%s: connect timeout", x.c.peer.to_string().c_str());
    start_close(x, close_code::kConnectTimeout, "connect timeout");
  } else {
    ++stats_.auth_timeouts;
    refuse(x, g.request_id, codes::kAuthTimeout, "verification did not finish in time",
           ws::close_code::kInternal);
    if (x.s.peer_done) finish(x);
  }
}

// ---- the index of authenticated sessions, and reloads ----

void Gateway::index_session(io::Conn& c, GatewayState& g) {
  if (g.who.is_device)
    devices_[g.who.device_id].push_back(&c);
  else
    services_[g.who.service_name].push_back(&c);
  g.indexed = true;
  ++indexed_;
}

void Gateway::unindex_session(io::Conn& c, GatewayState& g) {
  if (!g.indexed) return;
  g.indexed = false;
  --indexed_;
  auto drop = [&c](auto& map, const auto& key) {
    auto it = map.find(key);
    if (it == map.end()) return;
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), &c), v.end());
    if (v.empty()) map.erase(it);
  };
  if (g.who.is_device)
    drop(devices_, g.who.device_id);
  else
    drop(services_, g.who.service_name);
}

size_t Gateway::indexed_sessions() const { return indexed_; }

void Gateway::release_gateway_state(Ctx& x) {
  if (!x.s.gw) return;
  unindex_session(x.c, *x.s.gw);
  drop_subscriptions(x.w, x.c, *x.s.gw);
}

void Gateway::on_reload(io::Worker& w, const ReloadNotice& notice) {
  // Only the sessions of credentials the reload changed are looked at.
  std::vector<io::Conn*> hit;
  for (const auth::DeviceId& id : notice.devices)
    if (auto it = devices_.find(id); it != devices_.end())
      hit.insert(hit.end(), it->second.begin(), it->second.end());
  for (const std::string& name : notice.services)
    if (auto it = services_.find(name); it != services_.end())
      hit.insert(hit.end(), it->second.begin(), it->second.end());
  for (io::Conn* c : hit) {
    Session& s = session_of(*c);
    GatewayState& g = *s.gw;
    std::vector<std::string> grants;
    if (auth::recheck(*notice.identity, g.who, g.scopes, grants) && grants == g.scopes) {
      ++stats_.regranted;  // its grant still stands in full
      continue;
    }
    // Removed, or a scope it holds is no longer allowed: the protocol's 4001 covers both.
    ++stats_.revoked;
    unindex_session(*c, g);
    Ctx x(*this, w, *c, s);
    LOG_INFO("%s: revoked on reload", c->peer.to_string().c_str());
    if (s.phase == Phase::kWebSocket) start_close(x, close_code::kRevoked, "revoked");
  }
}

}  // namespace ringway::gateway
