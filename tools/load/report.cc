#include "load/report.h"

#include <cmath>
#include <cstdio>

#include "gateway/json_writer.h"

namespace ringway::load {

namespace {

class Obj {
 public:
  Obj() { s_ = "{"; }
  void key(const char* k) {
    if (s_.size() > 1) s_ += ',';
    gateway::append_json_string(s_, k);
    s_ += ':';
  }
  void u(const char* k, uint64_t v) {
    key(k);
    gateway::append_json_uint(s_, v);
  }
  void d(const char* k, double v) {
    key(k);
    if (!std::isfinite(v)) v = 0;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    s_ += buf;
  }
  void str(const char* k, const std::string& v) {
    key(k);
    gateway::append_json_string(s_, v);
  }
  void b(const char* k, bool v) {
    key(k);
    s_ += v ? "true" : "false";
  }
  void raw(const char* k, const std::string& json) {
    key(k);
    s_ += json;
  }
  std::string done() { return s_ + "}"; }

 private:
  std::string s_;
};

}  // namespace

std::string report_json(const Report& r) {
  Obj o;
  o.str("mode", r.mode);
  o.u("connections", r.connections);
  o.u("depth", r.depth);
  o.u("size", r.size);
  o.d("duration_s", r.duration_s);
  o.u("messages", r.messages);
  o.d("msgs_per_s", r.msgs_per_s);
  o.d("server_cpu_s", r.server_cpu_s);
  o.d("other_cpu_s", r.other_cpu_s);
  o.d("msgs_per_server_cpu_s", r.msgs_per_server_cpu_s);
  o.d("p50_us", r.p50_us);
  o.d("p90_us", r.p90_us);
  o.d("p99_us", r.p99_us);
  o.d("p999_us", r.p999_us);
  o.d("max_us", r.max_us);
  o.u("errors", r.errors);
  o.u("connects", r.connects);
  o.d("connects_per_s", r.connects_per_s);
  o.u("unavailable", r.unavailable);
  o.u("client_rss_kb", r.client_rss_kb);
  o.u("server_rss_kb", r.server_rss_kb);
  o.d("server_rss_per_conn_bytes", r.server_rss_per_conn_bytes);
  o.u("threads", r.threads);
  o.d("rate", r.rate);
  o.u("connected", r.connected);
  o.d("ramp_s", r.ramp_s);
  o.u("server_rss_before_kb", r.server_rss_before_kb);
  o.u("reconnects", r.reconnects);
  o.u("dead", r.dead);
  o.u("auth_failures", r.auth_failures);
  o.u("pings", r.pings);
  o.u("messages_total", r.messages_total);
  o.u("messages_sent", r.messages_sent);
  o.u("attempts", r.attempts);
  o.u("bytes_out", r.bytes_out);
  o.u("bytes_in", r.bytes_in);
  o.d("connect_p50_us", r.connect_p50_us);
  o.d("connect_p99_us", r.connect_p99_us);
  o.d("connect_max_us", r.connect_max_us);
  o.d("connects_per_server_cpu_s", r.connects_per_server_cpu_s);
  o.d("client_cpu_s", r.client_cpu_s);
  o.d("msgs_per_client_cpu_s", r.msgs_per_client_cpu_s);
  o.b("direct_descriptors", r.direct_descriptors);
  o.b("tls", r.tls);
  o.u("tls_handshakes", r.tls_handshakes);
  o.u("tls_resumed", r.tls_resumed);
  if (r.mode == "fanout") {
    o.str("target", r.target);
    o.u("subscribers", r.subscribers);
    o.u("subscribed", r.subscribed);
    o.u("publishers", r.publishers);
    o.u("published", r.published);
    o.u("publish_ok", r.publish_ok);
    o.u("publish_refused", r.publish_refused);
    o.u("delivered_reported", r.delivered_reported);
    o.u("deliveries", r.messages);
    o.d("deliveries_per_s", r.msgs_per_s);
    o.d("deliveries_per_server_cpu_s", r.msgs_per_server_cpu_s);
    o.u("lost", r.lost);
    o.u("lost_total", r.lost_total);
  }
  Obj reasons;
  for (const auto& [k, v] : r.error_reasons) reasons.u(k.c_str(), v);
  o.raw("error_reasons", reasons.done());
  return o.done();
}

std::string report_text(const Report& r) {
  char buf[2048];
  std::string s;
  std::snprintf(buf, sizeof buf,
                "mode %s: %lu connections (%lu up), %u threads, %.2f s measured\n",
                r.mode.c_str(), (unsigned long)r.connections, (unsigned long)r.connected,
                r.threads, r.duration_s);
  s += buf;
  if (r.mode == "fanout") {
    std::snprintf(buf, sizeof buf,
                  "  target %s: %lu subscribers (%lu subscribed), %lu publishers at %.0f/s, "
                  "%lu B data\n"
                  "  %lu published (%lu ok, %lu refused), %lu deliveries (%.0f/s), lost %lu\n"
                  "  publish->delivery us p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n",
                  r.target.c_str(), (unsigned long)r.subscribers, (unsigned long)r.subscribed,
                  (unsigned long)r.publishers, r.rate, (unsigned long)r.size,
                  (unsigned long)r.published, (unsigned long)r.publish_ok,
                  (unsigned long)r.publish_refused, (unsigned long)r.messages, r.msgs_per_s,
                  (unsigned long)r.lost, r.p50_us, r.p90_us, r.p99_us, r.p999_us, r.max_us);
    s += buf;
  } else if (r.mode == "echo") {
    std::snprintf(buf, sizeof buf,
                  "  %lu messages of %lu B, depth %lu: %.0f msgs/s; latency us p50 %.1f p90 %.1f "
                  "p99 %.1f p99.9 %.1f max %.1f\n",
                  (unsigned long)r.messages, (unsigned long)r.size, (unsigned long)r.depth,
                  r.msgs_per_s, r.p50_us, r.p90_us, r.p99_us, r.p999_us, r.max_us);
    s += buf;
  } else {
    std::snprintf(buf, sizeof buf,
                  "  %lu connects (%.0f/s), %lu unavailable; connect latency us p50 %.1f p90 %.1f "
                  "p99 %.1f p99.9 %.1f max %.1f\n",
                  (unsigned long)r.connects, r.connects_per_s, (unsigned long)r.unavailable,
                  r.p50_us, r.p90_us, r.p99_us, r.p999_us, r.max_us);
    s += buf;
  }
  if (r.server_cpu_s > 0) {
    if (r.mode == "connect")
      std::snprintf(buf, sizeof buf, "  server CPU %.2f s: %.0f connects per server CPU-second\n",
                    r.server_cpu_s, r.connects_per_server_cpu_s);
    else
      std::snprintf(buf, sizeof buf, "  server CPU %.2f s: %.0f %s per server CPU-second\n",
                    r.server_cpu_s, r.msgs_per_server_cpu_s,
                    r.mode == "fanout" ? "deliveries" : "msgs");
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "  client RSS %lu KiB", (unsigned long)r.client_rss_kb);
  s += buf;
  if (r.server_rss_kb) {
    std::snprintf(buf, sizeof buf, ", server RSS %lu KiB (before %lu KiB, %.0f B per connection)",
                  (unsigned long)r.server_rss_kb, (unsigned long)r.server_rss_before_kb,
                  r.server_rss_per_conn_bytes);
    s += buf;
  }
  s += "\n";
  if (r.tls) {
    std::snprintf(buf, sizeof buf, "  TLS handshakes %lu (%lu resumed)\n",
                  (unsigned long)r.tls_handshakes, (unsigned long)r.tls_resumed);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "  errors %lu, reconnects %lu, dead %lu, auth failures %lu\n",
                (unsigned long)r.errors, (unsigned long)r.reconnects, (unsigned long)r.dead,
                (unsigned long)r.auth_failures);
  s += buf;
  for (const auto& [k, v] : r.error_reasons) {
    std::snprintf(buf, sizeof buf, "    %lu x %s\n", (unsigned long)v, k.c_str());
    s += buf;
  }
  return s;
}

}  // namespace ringway::load
