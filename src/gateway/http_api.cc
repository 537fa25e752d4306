// The HTTP API for backends on the gateway's port: POST /v1/publish and POST /v1/send with a
// bearer service token (PROTOCOL.md, "HTTP API for backends"). Requests may be kept alive and
// pipelined; each is read through the same strict head parser as an upgrade, its body is
// bounded by Content-Length (at most the publish limit plus room for the envelope), and it is
// routed exactly like a WebSocket publish, answered when the sequencer's result comes back.
// While one request waits for that, bytes of the next are held (bounded) and parsed after.
#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "auth/base64url.h"
#include "auth/identity.h"
#include "auth/keys.h"
#include "auth/scopes.h"
#include "common/log.h"
#include "gateway/auth_context.h"
#include "gateway/gateway.h"
#include "gateway/json_writer.h"
#include "gateway/protocol_json.h"
#include "http/responses.h"
#include "io/clock.h"
#include "io/conn.h"
#include "io/worker.h"

namespace ringway::gateway {

namespace {
constexpr std::string_view kPublishPath = "/v1/publish";
constexpr std::string_view kSendPath = "/v1/send";
constexpr std::string_view kDevRegisterPath = "/v1/dev/register";
// Body bytes beyond the data itself that a request may carry (the channel, keys, whitespace).
constexpr size_t kApiEnvelopeBytes = 4096;

std::string api_error(std::string_view code, std::string_view message, bool retryable,
                      uint64_t retry_after_ms) {
  std::string out = "{\"error\":{\"code\":";
  append_json_string(out, code);
  out += ",\"message\":";
  append_json_string(out, message);
  out += retryable ? ",\"retryable\":true" : ",\"retryable\":false";
  if (retryable) out += ",\"retryAfterMs\":" + std::to_string(retry_after_ms);
  out += "}}";
  return out;
}

bool wants_close(const http::Request& r) {
  std::string_view conn = r.header("Connection");
  // Tokens are a comma list; "close" anywhere ends the connection after this response.
  size_t start = 0;
  while (start <= conn.size()) {
    size_t comma = conn.find(',', start);
    std::string_view t = conn.substr(start, comma == std::string_view::npos ? conn.npos : comma - start);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (http::equal_ignoring_ascii_case(t, "close")) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return r.minor_version == 0 && !http::equal_ignoring_ascii_case(conn, "keep-alive");
}

}  // namespace

bool Gateway::is_api_path(std::string_view path) const {
  return path == kPublishPath || path == kSendPath ||
         (path == kDevRegisterPath && !opts_->dev_registry.empty());
}

void Gateway::api_respond(Ctx& x, int status, std::string_view json, uint64_t retry_after_ms,
                          bool close) {
  ApiState* api = x.s.api.get();
  bool keep = !close && api && api->keep_alive && !x.w.draining();
  if (status >= 400) ++stats_.api_errors;
  std::string out;
  http::append_json_response(out, status, json, keep, retry_after_ms);
  if (!x.w.send_raw(x.c, {reinterpret_cast<const uint8_t*>(out.data()), out.size()})) return;
  if (!keep) {
    x.s.api.reset();
    x.s.http.reset();
    linger(x, kHttpLingerMs);
    return;
  }
  // Ready for the next request on this connection, with a fresh handshake deadline as its
  // keep-alive idle limit; bytes that came early are parsed now.
  replay_ = std::move(api->pipelined);
  x.s.api.reset();
  x.s.http.reset();
  x.s.deadline_ms = x.w.now() + opts_->handshake_timeout_ms;
  x.w.arm_timer(x.c, x.s.deadline_ms);
}

void Gateway::on_api_request(Ctx& x, std::span<const uint8_t> rest) {
  const http::Request& req = x.s.http->request();
  ++stats_.api_requests;
  auto api = std::make_unique<ApiState>();
  api->keep_alive = !wants_close(req);
  api->direct = req.path == kSendPath;
  x.s.api = std::move(api);
  ApiState& a = *x.s.api;
  if (req.method != "POST") {
    api_respond(x, 405, api_error(codes::kInvalidRequest, "use POST", false, 0), 0, true);
    return;
  }
  // The body's framing first: without it nothing after this request can be read reliably.
  std::string_view cl = req.header("Content-Length");
  if (cl.empty() || !req.header("Transfer-Encoding").empty()) {
    api_respond(x, 411, api_error(codes::kInvalidRequest, "Content-Length is required", false, 0),
                0, true);
    return;
  }
  size_t need = 0;
  auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), need);
  size_t limit = opts_->max_publish_bytes + kApiEnvelopeBytes;
  if (ec != std::errc() || p != cl.data() + cl.size() || need > limit) {
    api_respond(x, 413,
                api_error(codes::kInvalidRequest,
                          "body over " + std::to_string(limit) + " bytes", false, 0),
                0, true);
    return;
  }
  a.need = need;
  if (req.path == kDevRegisterPath) {
    // Development mode's browser sign-up: no token, but only from this machine.
    if (!x.c.peer.is_loopback()) {
      api_respond(x, 403, api_error(codes::kScopeDenied, "sign-up is for loopback clients", false,
                                    0), 0, true);
      return;
    }
    a.dev_register = true;
    x.s.http.reset();
    if (!a.body.reserve(need)) {
      x.w.abort(x.c);
      return;
    }
    feed_api_body(x, rest);
    return;
  }
  // The token: "Authorization: Bearer <token>", checked against the current token file.
  std::string_view auth = req.header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  const auth::ServiceEntry* svc = nullptr;
  std::shared_ptr<const auth::Identity> id = auth_ ? auth_->pool().identity() : nullptr;
  if (id && id->tokens && auth.size() > kBearer.size() &&
      http::equal_ignoring_ascii_case(auth.substr(0, kBearer.size()), kBearer))
    svc = id->tokens->match(auth.substr(kBearer.size()));
  if (!svc) {
    LOG_PEER(kInfo, "%s: HTTP API: service token missing or wrong", x.c.peer.to_string().c_str());
    api_respond(x, 401, api_error(codes::kTokenInvalid, "service token missing or wrong", false, 0),
                0, true);
    return;
  }
  a.service = svc->name;
  a.scopes = svc->scopes;
  x.s.http.reset();  // the head is done with; the body is read into the request's own buffer
  if (!a.body.reserve(need)) {
    x.w.abort(x.c);
    return;
  }
  feed_api_body(x, rest);
}

void Gateway::feed_api_body(Ctx& x, std::span<const uint8_t> bytes) {
  ApiState& a = *x.s.api;
  if (!a.awaiting) {
    size_t take = std::min(bytes.size(), a.need - a.body.size());
    if (take && !a.body.append(bytes.data(), take)) {
      x.w.abort(x.c);
      return;
    }
    bytes = bytes.subspan(take);
  }
  if (!bytes.empty()) {
    // Bytes of the next request, held until this one is answered; bounded by one more request.
    if (a.pipelined.size() + bytes.size() >
        http::kMaxHeaderBytes + opts_->max_publish_bytes + kApiEnvelopeBytes) {
      LOG_PEER(kInfo, "%s: HTTP API: too much pipelined ahead of an answer",
               x.c.peer.to_string().c_str());
      x.w.abort(x.c);
      return;
    }
    if (!a.pipelined.append(bytes)) {
      x.w.abort(x.c);
      return;
    }
  }
  if (!a.awaiting && a.body.size() == a.need) run_api_request(x);
}

void Gateway::run_api_request(Ctx& x) {
  ApiState& a = *x.s.api;
  if (a.dev_register) {
    dev_register(x);
    return;
  }
  RouteParams p;
  ProtocolError e;
  std::string_view body(reinterpret_cast<const char*>(a.body.data()), a.body.size());
  if (!parse_route_body(body, p, e)) {
    api_respond(x, 400, api_error(codes::kInvalidRequest, e.message, false, 0));
    return;
  }
  PublishCheck chk = check_publish(a.scopes, a.direct, p, opts_->max_publish_bytes, "body");
  if (chk.code) {
    bool denied = chk.denied;
    if (denied) ++stats_.scope_denied;
    api_respond(x, denied ? 403 : chk.too_large ? 413 : 400,
                api_error(chk.code, chk.message, false, 0));
    return;
  }
  ++(a.direct ? stats_.sends : stats_.publishes);
  auto* job = new PublishJob;
  job->channel = std::move(chk.channel);
  job->from = a.service;
  job->data.assign(p.data_json);
  job->origin_worker = x.w.index();
  job->slot = x.c.slot;
  job->gen = x.c.gen;
  job->http = true;
  job->direct = a.direct;
  job->t0_ns = io::monotonic_ns();
  a.body.release();
  a.awaiting = true;
  submit_publish(x.w, job);
}

void Gateway::answer_api(io::Worker& w, io::Conn& c, PublishJob& job) {
  Session& s = *static_cast<Session*>(c.session);
  if (s.phase != Phase::kHttp || !s.api || !s.api->awaiting) return;
  Ctx x(*this, w, c, s);
  if (job.error) {
    api_respond(x, 503, api_error(job.error, "the channel's sequencer is busy; retry", true,
                                  job.retry_after_ms),
                job.retry_after_ms);
  } else {
    std::string body = "{\"delivered\":" + std::to_string(job.delivered);
    if (!job.direct) body += ",\"offset\":" + std::to_string(job.offset);
    body += "}";
    api_respond(x, 202, body);
  }
  if (!in_http_input_ && !replay_.empty()) {  // an answer by mail: take the next request now
    ByteBuffer next = std::move(replay_);
    http_input(x, next.span());
  }
}

void Gateway::dev_register(Ctx& x) {
  // {"publicKey":"<base64url of 32 bytes>"} -> the key is appended to the development registry
  // (with the development scopes) and the main thread is asked to reload. The file write is a
  // few bytes with O_APPEND on a loopback-only development path, never on a production ring.
  ApiState& a = *x.s.api;
  std::string_view body(reinterpret_cast<const char*>(a.body.data()), a.body.size());
  std::string key_text;
  {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element root;
    std::string_view v;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS ||
        root["publicKey"].get(v) != simdjson::SUCCESS) {
      api_respond(x, 400, api_error(codes::kInvalidRequest, "body.publicKey: missing", false, 0));
      return;
    }
    key_text.assign(v);
  }
  auth::PublicKey key;
  if (!auth::base64url_decode(key_text, key)) {
    api_respond(x, 400, api_error(codes::kInvalidRequest,
                                  "body.publicKey: expected base64url of 32 bytes", false, 0));
    return;
  }
  std::string id = auth::device_id_hex(key);
  auto identity = auth_ ? auth_->pool().identity() : nullptr;
  bool known = identity && identity->devices && identity->devices->find(auth::device_id_bytes(key));
  if (!known) {
    std::string line = key_text + " " + opts_->dev_scopes + "\n";
    int fd = ::open(opts_->dev_registry.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == ssize_t(line.size());
    if (fd >= 0) ::close(fd);
    if (!ok) {
      api_respond(x, 503, api_error(codes::kUnavailable, "the registry cannot be written", true, 1000),
                  1000);
      return;
    }
    LOG_INFO("development sign-up: device %s added to %s", id.c_str(), opts_->dev_registry.c_str());
    ::kill(::getpid(), SIGHUP);  // the main thread reloads (a few milliseconds)
  }
  api_respond(x, known ? 200 : 202,
              std::string("{\"deviceId\":\"") + id + "\",\"registered\":" +
                  (known ? "true" : "false") + "}");
}

}  // namespace ringway::gateway
