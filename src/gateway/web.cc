// The status page and browser client as static files (web/, embedded in the binary), and the
// /status WebSocket that pushes the node's counters to the page once a second.
#include "common/log.h"
#include "gateway/gateway.h"
#include "gateway/web_assets.h"
#include "http/responses.h"
#include "io/conn.h"
#include "io/worker.h"
#include "ws/ws.h"

namespace ringway::gateway {

namespace {
constexpr uint64_t kStatusPushMs = 1000;
}  // namespace

bool Gateway::serve_asset(Ctx& x, const http::Request& req) {
  const WebAsset* a = find_web_asset(req.path);
  if (!a) return false;
  if (req.method != "GET") {
    respond(x, 405);
    return true;
  }
  std::string head;
  head.append("HTTP/1.1 200 OK\r\nContent-Type: ").append(a->content_type);
  head.append("\r\nContent-Length: ").append(std::to_string(a->bytes.size()));
  head.append("\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n");
  x.s.http.reset();
  if (!x.w.send_raw(x.c, {reinterpret_cast<const uint8_t*>(head.data()), head.size()}) ||
      !x.w.send_raw(x.c, {a->bytes.data(), a->bytes.size()}))
    return true;
  linger(x, kHttpLingerMs);
  return true;
}

void Gateway::push_status(Ctx& x) {
  std::string json = "{\"type\":\"event\",\"event\":\"status\",\"payload\":";
  opts_->stats->status_json(json);
  json.push_back('}');
  send_text(x, json);
  if (x.c.closing() || x.s.phase != Phase::kWebSocket) return;
  x.s.deadline_ms = x.w.now() + kStatusPushMs;
  schedule(x);
}

}  // namespace ringway::gateway
