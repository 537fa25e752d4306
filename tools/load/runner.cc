#include "load/runner.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "load/loop.h"
#include "load/proc_stats.h"
#include "load/report.h"
#include "load/workload.h"

namespace ringway::load {

namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

double us(uint64_t ns) { return double(ns) / 1000.0; }

struct Totals {
  uint64_t messages = 0, messages_total = 0, sent = 0, connects = 0, connects_total = 0,
           attempts = 0, unavailable = 0, errors = 0, auth_failures = 0, reconnects = 0, dead = 0,
           established = 0, max_established = 0, pings = 0, bytes_in = 0, bytes_out = 0,
           last_ready_ns = 0, published = 0, publish_ok = 0, publish_refused = 0,
           delivered_reported = 0, lost = 0, lost_total = 0, subscribed = 0, tls_handshakes = 0,
           tls_resumed = 0;
};

Totals sum(const std::vector<std::unique_ptr<Loop>>& loops) {
  Totals t;
  for (const auto& l : loops) {
    if (!l) continue;
    Counters& c = l->counters();
    t.messages += Counters::get(c.messages);
    t.messages_total += Counters::get(c.messages_total);
    t.sent += Counters::get(c.sent_total);
    t.connects += Counters::get(c.connects);
    t.connects_total += Counters::get(c.connects_total);
    t.attempts += Counters::get(c.attempts_total);
    t.unavailable += Counters::get(c.unavailable);
    t.errors += Counters::get(c.errors);
    t.auth_failures += Counters::get(c.auth_failures);
    t.reconnects += Counters::get(c.reconnects);
    t.dead += Counters::get(c.dead);
    t.established += Counters::get(c.established);
    t.max_established += Counters::get(c.max_established);
    t.pings += Counters::get(c.pings);
    t.tls_handshakes += Counters::get(c.tls_handshakes);
    t.tls_resumed += Counters::get(c.tls_resumed);
    t.bytes_in += Counters::get(c.bytes_in);
    t.bytes_out += Counters::get(c.bytes_out);
    t.last_ready_ns = std::max(t.last_ready_ns, Counters::get(c.last_ready_ns));
    t.published += Counters::get(c.published);
    t.publish_ok += Counters::get(c.publish_ok);
    t.publish_refused += Counters::get(c.publish_refused);
    t.delivered_reported += Counters::get(c.delivered_reported);
    t.lost += Counters::get(c.lost);
    t.lost_total += Counters::get(c.lost_total);
    t.subscribed += Counters::get(c.subscribed);
  }
  return t;
}

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kRamp: return "ramp";
    case Phase::kWarmup: return "warmup";
    case Phase::kMeasure: return "measure";
    case Phase::kStop: return "stop";
  }
  return "?";
}

std::string si(double v) {
  char buf[32];
  if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace

int run_keys(const Options& o) {
  std::string err;
  if (!write_key_files(o.key_count, o.scopes, o.out_keys, o.out_registry, err)) {
    std::fprintf(stderr, "ringway-load: keys: %s\n", err.c_str());
    return 1;
  }
  std::fprintf(stderr, "ringway-load: wrote %lu identities to %s, registry lines to %s\n",
               (unsigned long)o.key_count, o.out_keys.c_str(), o.out_registry.c_str());
  return 0;
}

int run(const Options& o) {
  // Identities for the gateway route.
  std::vector<LoadIdentity> identities;
  if (!o.keys_file.empty()) {
    std::vector<Seed> seeds;
    std::string err;
    if (!read_key_seeds(o.keys_file, seeds, err)) {
      std::fprintf(stderr, "ringway-load: --keys: %s\n", err.c_str());
      return 2;
    }
    identities = expand_identities(seeds, std::max(1u, std::thread::hardware_concurrency()));
  }
  Shared shared;
  shared.opt = &o;
  shared.identities = identities;
  shared.gateway_route = !identities.empty();
  if (o.url.secure) {
    std::string err;
    shared.tls = tls::ClientContext::make(o.insecure, o.ca_file, o.tls_resume, err);
    if (!shared.tls) {
      std::fprintf(stderr, "ringway-load: TLS: %s\n", err.c_str());
      return 2;
    }
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const bool connect_mode = o.mode == Mode::kConnect;
  const bool storm = connect_mode && o.reconnect;
  uint64_t seed = o.seed ? o.seed : mono_ns() ^ (uint64_t(getpid()) << 32);

  std::optional<uint64_t> server_rss_before;
  const bool measure_server = !o.server_pids.empty();
  for (int pid : o.server_pids) {
    if (!read_rss_kb(pid)) {
      std::fprintf(stderr, "ringway-load: --server-pid %d: no such process\n", pid);
      return 2;
    }
  }
  for (int pid : o.other_pids) {
    if (!read_cpu_seconds(pid)) {
      std::fprintf(stderr, "ringway-load: --measure-pid %d: no such process\n", pid);
      return 2;
    }
  }
  if (measure_server) server_rss_before = read_rss_kb(o.server_pids);

  // Connection g goes to thread g % threads.
  unsigned threads = o.threads;
  std::vector<std::unique_ptr<Loop>> loops(threads);
  std::vector<std::unique_ptr<Workload>> workloads(threads);
  std::vector<std::string> init_errors(threads);
  std::latch ready(threads);
  std::vector<std::thread> pool;
  uint64_t start_ns = mono_ns();
  Phase phase = connect_mode ? (storm && o.warmup_ms ? Phase::kWarmup : Phase::kMeasure)
                             : Phase::kRamp;
  shared.phase.store(int(phase));
  for (unsigned t = 0; t < threads; ++t) {
    workloads[t] = make_workload(o, t, threads, seed + 0x1000 * (t + 1));
    std::vector<uint64_t> mine;
    for (uint64_t g = t; g < o.total_connections(); g += threads) mine.push_back(g);
    loops[t] = std::make_unique<Loop>(shared, t, std::move(mine), *workloads[t],
                                      seed * 31 + 0x9e37 * (t + 1));
  }
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      bool ok = loops[t]->init(init_errors[t]);
      ready.count_down();
      if (ok) loops[t]->run();
    });
  }
  ready.wait();
  bool init_failed = false;
  for (unsigned t = 0; t < threads; ++t) {
    if (!init_errors[t].empty()) {
      std::fprintf(stderr, "ringway-load: thread %u: %s\n", t, init_errors[t].c_str());
      init_failed = true;
    }
  }
  if (init_failed) {
    shared.phase.store(int(Phase::kStop));
    for (auto& th : pool) th.join();
    return 2;
  }

  const bool progress = isatty(STDERR_FILENO) && !o.quiet;
  uint64_t phase_start_ns = mono_ns();
  uint64_t measure_start_ns = phase == Phase::kMeasure ? start_ns : 0, measure_end_ns = 0;
  double cpu0 = 0, cpu1 = 0, client_cpu0 = 0, client_cpu1 = 0, other_cpu0 = 0, other_cpu1 = 0;
  bool have_cpu = false;
  if (phase == Phase::kMeasure) {
    client_cpu0 = read_cpu_seconds(0).value_or(0);
    other_cpu0 = read_cpu_seconds(o.other_pids).value_or(0);
    if (measure_server)
      if (auto c = read_cpu_seconds(o.server_pids)) cpu0 = *c, have_cpu = true;
  }
  const bool fanout = o.mode == Mode::kFanout;
  const uint64_t total = o.total_connections();
  uint64_t server_rss_up = 0, client_rss = 0, connected_at_measure = 0, subscribed_at_measure = 0;
  double ramp_s = 0;
  bool ramp_incomplete = false;
  uint64_t last_progress_ns = start_ns;
  Totals last_progress{};

  auto enter = [&](Phase p) {
    phase = p;
    phase_start_ns = mono_ns();
    shared.phase.store(int(p), std::memory_order_release);
  };
  auto begin_measure = [&] {
    client_cpu0 = read_cpu_seconds(0).value_or(0);
    other_cpu0 = read_cpu_seconds(o.other_pids).value_or(0);
    if (measure_server)
      if (auto c = read_cpu_seconds(o.server_pids)) cpu0 = *c, have_cpu = true;
    enter(Phase::kMeasure);
    measure_start_ns = phase_start_ns;
  };
  auto end_measure = [&](uint64_t end_ns) {
    measure_end_ns = end_ns;
    client_cpu1 = read_cpu_seconds(0).value_or(0);
    other_cpu1 = read_cpu_seconds(o.other_pids).value_or(other_cpu0);
    if (have_cpu)
      if (auto c = read_cpu_seconds(o.server_pids)) cpu1 = *c;
    client_rss = read_rss_kb(0).value_or(0);
    if (measure_server && !server_rss_up) server_rss_up = read_rss_kb(o.server_pids).value_or(0);
    enter(Phase::kStop);
  };

  while (phase != Phase::kStop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint64_t now = mono_ns();
    Totals t = sum(loops);
    if (g_interrupted.load()) {
      std::fprintf(stderr, "ringway-load: interrupted; stopping\n");
      if (phase == Phase::kRamp) connected_at_measure = t.established;
      if (!measure_start_ns) measure_start_ns = now;
      end_measure(now);
      break;
    }
    switch (phase) {
      case Phase::kRamp: {
        // fanout: every subscriber's subscribe is confirmed, too.
        bool up = t.established >= total && (!fanout || t.subscribed >= o.connections);
        if (up || now - start_ns >= o.ramp_timeout_ms * 1'000'000u) {
          ramp_s = double(now - start_ns) / 1e9;
          connected_at_measure = t.established;
          subscribed_at_measure = t.subscribed;
          if (!up) {
            ramp_incomplete = true;
            std::fprintf(stderr,
                         "ringway-load: only %lu of %lu connections up%s after --ramp-timeout\n",
                         (unsigned long)t.established, (unsigned long)total,
                         fanout ? (" (" + std::to_string(t.subscribed) + " subscribed)").c_str()
                                : "");
          }
          if (o.mode == Mode::kIdle) {
            // Everything is up: this is the memory the connections cost.
            if (measure_server) server_rss_up = read_rss_kb(o.server_pids).value_or(0);
            begin_measure();
          } else if (o.warmup_ms) {
            enter(Phase::kWarmup);
          } else {
            begin_measure();
          }
        }
        break;
      }
      case Phase::kWarmup:
        if (now - phase_start_ns >= o.warmup_ms * 1'000'000u) begin_measure();
        break;
      case Phase::kMeasure:
        if (connect_mode && !storm && t.connects_total >= o.connections) {
          // Every connection has its hello: the window ends at the last one.
          connected_at_measure = t.established;
          end_measure(std::max(t.last_ready_ns, measure_start_ns + 1));
        } else if (now - measure_start_ns >= o.duration_ms * 1'000'000u) {
          if (connect_mode) connected_at_measure = t.max_established;
          end_measure(now);
        }
        break;
      case Phase::kStop: break;
    }
    if (progress && now - last_progress_ns >= 1'000'000'000u) {
      double dt = double(now - last_progress_ns) / 1e9;
      std::fprintf(stderr,
                   "[%6.1fs] %-7s up %lu/%lu | msgs/s %s | connects/s %s | unavailable %lu | "
                   "errors %lu | reconnects %lu\n",
                   double(now - start_ns) / 1e9, phase_name(phase), (unsigned long)t.established,
                   (unsigned long)total,
                   si(double(t.messages_total - last_progress.messages_total) / dt).c_str(),
                   si(double(t.connects_total - last_progress.connects_total) / dt).c_str(),
                   (unsigned long)t.unavailable, (unsigned long)t.errors,
                   (unsigned long)t.reconnects);
      last_progress_ns = now;
      last_progress = t;
    }
  }
  for (auto& th : pool) th.join();

  // Report.
  Totals t = sum(loops);
  Report r;
  r.mode = mode_name(o.mode);
  r.connections = o.connections;
  r.depth = o.mode == Mode::kEcho || fanout ? o.depth : 0;
  r.size = o.mode == Mode::kEcho || fanout ? o.size : 0;
  r.threads = threads;
  r.rate = o.rate;
  r.duration_s = measure_end_ns > measure_start_ns
                     ? double(measure_end_ns - measure_start_ns) / 1e9 : 0;
  r.messages = t.messages;
  r.msgs_per_s = r.duration_s > 0 ? double(t.messages) / r.duration_s : 0;
  r.server_cpu_s = have_cpu ? cpu1 - cpu0 : 0;
  r.other_cpu_s = other_cpu1 - other_cpu0;
  Histogram lat, conn_lat, conn_lat_all;
  for (auto& l : loops) {
    lat.merge(l->latency());
    conn_lat.merge(l->connect_latency());
    conn_lat_all.merge(l->connect_latency_all());
    for (const auto& [k, v] : l->error_reasons()) r.error_reasons[k] += v;
    if (l->suppressed_logs() && !o.quiet)
      std::fprintf(stderr, "ringway-load: thread %u: %lu reconnect log lines suppressed\n",
                   l->index(), (unsigned long)l->suppressed_logs());
  }
  r.direct_descriptors = loops[0]->direct_descriptors();
  const Histogram& h =
      o.mode == Mode::kEcho || fanout ? lat : connect_mode ? conn_lat : conn_lat_all;
  r.p50_us = us(h.percentile(50));
  r.p90_us = us(h.percentile(90));
  r.p99_us = us(h.percentile(99));
  r.p999_us = us(h.percentile(99.9));
  r.max_us = us(h.max());
  const Histogram& ch = connect_mode ? conn_lat : conn_lat_all;
  r.connect_p50_us = us(ch.percentile(50));
  r.connect_p99_us = us(ch.percentile(99));
  r.connect_max_us = us(ch.max());
  r.errors = t.errors;
  r.unavailable = t.unavailable;
  r.auth_failures = t.auth_failures;
  if (connect_mode) {
    r.connects = t.connects;
    r.connects_per_s = r.duration_s > 0 ? double(t.connects) / r.duration_s : 0;
  } else {
    r.connects = t.connects_total;
    r.connects_per_s = ramp_s > 0 ? double(connected_at_measure) / ramp_s : 0;
  }
  if (r.server_cpu_s > 0) {
    r.msgs_per_server_cpu_s = double(t.messages) / r.server_cpu_s;
    if (connect_mode) r.connects_per_server_cpu_s = double(t.connects) / r.server_cpu_s;
  }
  r.client_rss_kb = client_rss;
  r.client_cpu_s = client_cpu1 > client_cpu0 ? client_cpu1 - client_cpu0 : 0;
  if (r.client_cpu_s > 0) r.msgs_per_client_cpu_s = double(t.messages) / r.client_cpu_s;
  r.server_rss_kb = server_rss_up;
  r.server_rss_before_kb = server_rss_before.value_or(0);
  if (o.mode == Mode::kIdle && server_rss_up && connected_at_measure)
    r.server_rss_per_conn_bytes =
        (double(server_rss_up) - double(*server_rss_before)) * 1024.0 / double(connected_at_measure);
  r.connected = connected_at_measure;
  r.ramp_s = ramp_s;
  r.reconnects = t.reconnects;
  r.dead = t.dead;
  r.pings = t.pings;
  r.tls = o.url.secure;
  r.tls_handshakes = t.tls_handshakes;
  r.tls_resumed = t.tls_resumed;
  r.messages_total = t.messages_total;
  r.messages_sent = t.sent;
  r.attempts = t.attempts;
  r.bytes_out = t.bytes_out;
  r.bytes_in = t.bytes_in;
  if (fanout) {
    r.target = o.target == Target::kPeer ? "peer" : "ringway";
    r.subscribers = o.connections;
    r.subscribed = subscribed_at_measure;
    r.publishers = o.publishers;
    r.published = t.published;
    r.publish_ok = t.publish_ok;
    r.publish_refused = t.publish_refused;
    r.delivered_reported = t.delivered_reported;
    r.lost = t.lost;
    r.lost_total = t.lost_total;
  }

  if (o.json)
    std::printf("%s\n", report_json(r).c_str());
  else
    std::printf("%s", report_text(r).c_str());
  std::fflush(stdout);
  return (t.errors || ramp_incomplete) ? 1 : 0;
}

}  // namespace ringway::load
