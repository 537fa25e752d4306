// The metrics exposition: every worker's single-writer counters summed (common/counter.h), and
// the verifier pool's queue. prometheus-cpp was considered: its counters are shared objects
// updated with atomic read-modify-writes from every thread, which is what the per-core design
// avoids, and its registry and collectable interfaces would only wrap what is here; the text
// format itself is a few lines (common/prom_text.h).
#include <string>

#include "app/server.h"
#include "bus/bus.h"
#include "common/log.h"
#include "common/prom_text.h"
#include "io/clock.h"

namespace ringway::app {

namespace {

template <class Get>
uint64_t sum(const std::vector<std::unique_ptr<gateway::Gateway>>& hs, Get get) {
  uint64_t n = 0;
  for (const auto& h : hs) n += get(h->stats());
  return n;
}

template <class Get>
uint64_t sum_io(const std::vector<std::unique_ptr<io::Worker>>& ws, Get get) {
  uint64_t n = 0;
  for (const auto& w : ws) n += get(w->stats());
  return n;
}

}  // namespace

void Server::prometheus(std::string& out) {
  using G = gateway::GatewayStats;
  using W = io::WorkerStats;
  const auto& hs = handlers_;
  const auto& ws = workers_v_;
  auto gauge = [&](const char* name, const char* help, uint64_t v) {
    prom::family(out, name, "gauge", help);
    prom::sample(out, name, "", v);
  };
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    prom::family(out, name, "counter", help);
    prom::sample(out, name, "", v);
  };

  prom::family(out, "ringway_connections", "gauge", "Open connections by state");
  struct State {
    const char* label;
    Counter G::*field;
  };
  for (State s : {State{"http", &G::http_connections}, State{"echo", &G::echo_sessions},
                  State{"unauthenticated", &G::unauthenticated_sessions},
                  State{"session", &G::sessions}, State{"status", &G::status_watchers},
                  State{"closing", &G::closing}})
    prom::sample(out, "ringway_connections", std::string("state=\"") + s.label + "\"",
                 sum(hs, [&](const G& g) { return (g.*s.field).get(); }));
  counter("ringway_accepts_total", "Connections accepted",
          sum_io(ws, [](const W& w) { return w.accepted.get(); }));
  counter("ringway_accept_errors_total", "Accepts the kernel failed",
          sum_io(ws, [](const W& w) { return w.accept_errors.get(); }));
  counter("ringway_refused_total", "Connections refused at the connection limit",
          sum_io(ws, [](const W& w) { return w.refused.get(); }));
  counter("ringway_connections_closed_total", "Connections closed",
          sum_io(ws, [](const W& w) { return w.closed.get(); }));
  counter("ringway_bytes_in_total", "Bytes received",
          sum_io(ws, [](const W& w) { return w.bytes_in.get(); }));
  counter("ringway_bytes_out_total", "Bytes sent",
          sum_io(ws, [](const W& w) { return w.bytes_out.get(); }));
  counter("ringway_messages_in_total", "WebSocket data messages received",
          sum(hs, [](const G& g) { return g.messages_in.get(); }));
  counter("ringway_messages_out_total", "WebSocket data messages queued to peers",
          sum(hs, [](const G& g) { return g.messages_out.get(); }));

  prom::family(out, "ringway_closes_total", "counter", "Close frames sent, by code");
  for (size_t i = 0; i < gateway::kCloseCodeSlots; ++i) {
    std::string code = i < std::size(gateway::kCountedCloseCodes)
                           ? std::to_string(gateway::kCountedCloseCodes[i])
                           : std::string("other");
    prom::sample(out, "ringway_closes_total", "code=\"" + code + "\"",
                 sum(hs, [i](const G& g) { return g.closes[i].get(); }));
  }
  prom::family(out, "ringway_auth_results_total", "counter",
               "Gateway-route connects by result (OK or the error code)");
  for (size_t i = 0; i < gateway::kAuthResultSlots; ++i)
    prom::sample(out, "ringway_auth_results_total",
                 std::string("result=\"") + gateway::kAuthResultCodes[i] + "\"",
                 sum(hs, [i](const G& g) { return g.auth_results[i].get(); }));
  gauge("ringway_verifier_queue_depth", "Connect requests waiting for a verifier thread",
        pool_->queued());

  prom::family(out, "ringway_deadline_expiries_total", "counter", "Deadlines that expired, by kind");
  struct Deadline {
    const char* kind;
    Counter G::*field;
  };
  for (Deadline d : {Deadline{"handshake", &G::handshake_timeouts},
                     Deadline{"connect", &G::connect_timeouts}, Deadline{"auth", &G::auth_timeouts},
                     Deadline{"idle", &G::idle_timeouts}, Deadline{"close", &G::close_timeouts},
                     Deadline{"message", &G::message_timeouts}})
    prom::sample(out, "ringway_deadline_expiries_total", std::string("kind=\"") + d.kind + "\"",
                 sum(hs, [&](const G& g) { return (g.*d.field).get(); }));
  counter("ringway_slow_consumer_cuts_total", "Connections closed 4003 for unread output",
          sum(hs, [](const G& g) { return g.slow_consumers.get(); }));
  counter("ringway_over_address_cap_total", "Connections refused by a per-address cap",
          sum(hs, [](const G& g) { return g.over_address_cap.get(); }));
  counter("ringway_pings_sent_total", "Pings the server sent",
          sum(hs, [](const G& g) { return g.pings_sent.get(); }));

  gauge("ringway_channels", "Channels with subscribers on this node (summed over workers)",
        sum(hs, [](const G& g) { return g.local_channels.get(); }));
  gauge("ringway_subscriptions", "Subscriptions held",
        sum(hs, [](const G& g) { return g.local_subscriptions.get(); }));
  gauge("ringway_sequenced_channels", "Channels whose offsets this node keeps",
        sum(hs, [](const G& g) { return g.sequenced_channels.get(); }));
  counter("ringway_publishes_total", "Publishes accepted (WebSocket and HTTP)",
          sum(hs, [](const G& g) { return g.publishes.get(); }));
  counter("ringway_sends_total", "Direct sends accepted (WebSocket and HTTP)",
          sum(hs, [](const G& g) { return g.sends.get(); }));
  counter("ringway_publish_refused_total", "Publishes refused UNAVAILABLE (a full mail ring)",
          sum(hs, [](const G& g) { return g.publish_refused.get(); }));
  counter("ringway_deliveries_total", "Messages queued to subscribers",
          sum(hs, [](const G& g) { return g.deliveries.get(); }));
  counter("ringway_fanout_mails_total", "Delivery records sent to other workers",
          sum(hs, [](const G& g) { return g.fanout_mails.get(); }));
  counter("ringway_rate_limited_total", "Requests refused over the per-connection rate",
          sum(hs, [](const G& g) { return g.rate_limited.get(); }));
  counter("ringway_scope_denied_total", "Requests refused SCOPE_DENIED",
          sum(hs, [](const G& g) { return g.scope_denied.get(); }));
  counter("ringway_http_api_requests_total", "HTTP API requests",
          sum(hs, [](const G& g) { return g.api_requests.get(); }));
  counter("ringway_revoked_total", "Sessions closed 4001 on a reload",
          sum(hs, [](const G& g) { return g.revoked.get(); }));
  counter("ringway_deflate_negotiated_total", "Upgrades that negotiated permessage-deflate",
          sum(hs, [](const G& g) { return g.deflate_negotiated.get(); }));
  counter("ringway_deflate_messages_total",
          "Messages compressed (a publish counts once, however many receive it)",
          sum(hs, [](const G& g) { return g.deflate_messages.get(); }));
  counter("ringway_deflate_bytes_in_total", "Bytes of messages before compression",
          sum(hs, [](const G& g) { return g.deflate_bytes_in.get(); }));
  counter("ringway_deflate_bytes_out_total", "Bytes of messages after compression",
          sum(hs, [](const G& g) { return g.deflate_bytes_out.get(); }));
  counter("ringway_deflate_shared_deliveries_total",
          "Deliveries that sent a publish's one compressed frame",
          sum(hs, [](const G& g) { return g.deflate_shared_deliveries.get(); }));
  counter("ringway_inflate_messages_total", "Compressed messages received and inflated",
          sum(hs, [](const G& g) { return g.inflate_messages.get(); }));
  counter("ringway_inflate_bytes_in_total", "Compressed bytes of messages received",
          sum(hs, [](const G& g) { return g.inflate_bytes_in.get(); }));
  counter("ringway_inflate_bytes_out_total", "Bytes of received messages once inflated",
          sum(hs, [](const G& g) { return g.inflate_bytes_out.get(); }));
  counter("ringway_inflate_too_big_total",
          "Compressed messages closed 1009 for inflating past the message-size limit",
          sum(hs, [](const G& g) { return g.inflate_too_big.get(); }));
  counter("ringway_inflate_invalid_total", "Compressed messages closed 1007 for invalid data",
          sum(hs, [](const G& g) { return g.inflate_invalid.get(); }));
  counter("ringway_deflate_takeover_total",
          "Connections that keep compression context (takeover mode, within the budget)",
          sum(hs, [](const G& g) { return g.deflate_takeover.get(); }));
  counter("ringway_deflate_takeover_fallbacks_total",
          "Takeover-mode connections given no context takeover: the memory budget was spent",
          sum(hs, [](const G& g) { return g.deflate_takeover_fallbacks.get(); }));
  counter("ringway_mail_full_total", "Mail refused by a full ring",
          sum_io(ws, [](const W& w) { return w.mail_full.get(); }));
  if (bus_) {
    const bus::Stats& b = bus_->stats();
    gauge("ringway_bus_healthy", "1 while every shard is connected and its probes come back",
          b.healthy.get());
    gauge("ringway_bus_connected_shards", "Redis shards connected", b.connected_shards.get());
    gauge("ringway_bus_watched_partitions", "Bus partitions this node is subscribed to",
          b.watched_partitions.get());
    gauge("ringway_bus_undelivered", "Bus records waiting for a worker's full ring",
          b.undelivered.get());
    counter("ringway_bus_published_total", "Publishes Redis numbered and published",
            b.published.get());
    counter("ringway_bus_publish_failed_total",
            "Publishes that could not reach Redis (answered UNAVAILABLE)", b.publish_failed.get());
    counter("ringway_bus_messages_in_total", "Messages Redis delivered to this node",
            b.messages_in.get());
    counter("ringway_bus_messages_dropped_total",
            "Messages from Redis dropped because a worker stopped taking records",
            b.messages_dropped.get());
    counter("ringway_bus_messages_malformed_total",
            "Messages on a partition channel that were not well formed (dropped)",
            b.messages_malformed.get());
    counter("ringway_bus_watches_total", "Channel watches asked of Redis", b.watches.get());
    counter("ringway_bus_reconnects_total", "Reconnect attempts to Redis", b.reconnects.get());
    counter("ringway_bus_resyncs_total", "Shards that came (back) up and were resubscribed",
            b.resyncs.get());
    counter("ringway_bus_probes_sent_total", "Liveness probes published", b.probes_sent.get());
    counter("ringway_bus_probes_returned_total", "Liveness probes that came back",
            b.probes_returned.get());
    counter("ringway_bus_unhealthy_periods_total",
            "Times probes stopped coming back on a connected shard", b.unhealthy_periods.get());
    counter("ringway_bus_backpressure_total",
            "Records refused because the ring to the bus thread was full",
            sum(hs, [](const G& g) { return g.bus_backpressure.get(); }));
    counter("ringway_bus_early_dropped_total",
            "Messages dropped while their channel's watch was being answered",
            sum(hs, [](const G& g) { return g.bus_early_dropped.get(); }));
    counter("ringway_bus_epoch_changes_total",
            "Watched channels whose history Redis lost (a new epoch)",
            sum(hs, [](const G& g) { return g.bus_epoch_changes.get(); }));
  }
  counter("ringway_log_lines_suppressed_total", "Peer-caused log lines held back",
          log_suppressed_total());
  counter("ringway_reloads_total", "Successful reloads", reloads_.load());
  counter("ringway_reload_failures_total", "Reloads that kept the old settings",
          reload_failures_.load());

  uint64_t buckets[LatencyHistogram::kBuckets] = {};
  uint64_t sum_us = 0, count = 0;
  for (const auto& h : hs) {
    const LatencyHistogram& l = h->stats().publish_to_delivery;
    for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) buckets[i] += l.bucket(i);
    sum_us += l.sum_us();
    count += l.count();
  }
  prom::family(out, "ringway_publish_delivery_seconds", "histogram",
               "From a publish's arrival to its frame being queued for each subscriber");
  prom::histogram_seconds(out, "ringway_publish_delivery_seconds", "", buckets, sum_us, count);
  gauge("ringway_uptime_seconds", "Seconds since start", (io::monotonic_ms() - started_ms_) / 1000);
}

void Server::status_json(std::string& out) {
  using G = gateway::GatewayStats;
  const auto& hs = handlers_;
  auto field = [&out](const char* name, uint64_t v, bool last = false) {
    out.append("\"").append(name).append("\":").append(std::to_string(v));
    if (!last) out.push_back(',');
  };
  out.push_back('{');
  field("uptimeSeconds", (io::monotonic_ms() - started_ms_) / 1000);
  field("workers", workers_);
  field("sessions", sum(hs, [](const G& g) { return g.sessions.get(); }));
  field("echoSessions", sum(hs, [](const G& g) { return g.echo_sessions.get(); }));
  field("unauthenticated", sum(hs, [](const G& g) { return g.unauthenticated_sessions.get(); }));
  field("statusWatchers", sum(hs, [](const G& g) { return g.status_watchers.get(); }));
  field("channels", sum(hs, [](const G& g) { return g.local_channels.get(); }));
  field("subscriptions", sum(hs, [](const G& g) { return g.local_subscriptions.get(); }));
  field("publishes", sum(hs, [](const G& g) { return g.publishes.get() + g.sends.get(); }));
  field("deliveries", sum(hs, [](const G& g) { return g.deliveries.get(); }));
  field("messagesIn", sum(hs, [](const G& g) { return g.messages_in.get(); }));
  field("authOk", sum(hs, [](const G& g) { return g.auth_ok.get(); }));
  field("authFailed", sum(hs, [](const G& g) { return g.auth_failed.get(); }), true);
  out.push_back('}');
}

}  // namespace ringway::app
