// ringway: starts one worker per core, each with its own ring and listener, and waits for a
// signal. SIGINT/SIGTERM drain: WebSocket clients get 1001, then the process exits.
#ifndef RINGWAY_NO_MIMALLOC
#include <mimalloc.h>
#endif
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "app/cli.h"
#include <openssl/rand.h>

#include "auth/keys.h"
#include "auth/registry.h"
#include "auth/service_tokens.h"
#include "auth/verifier_pool.h"
#include "common/log.h"
#include "gateway/address_caps.h"
#include "gateway/auth_context.h"
#include "gateway/gateway.h"
#include "io/listener.h"
#include "io/mail.h"
#include "io/worker.h"

using namespace ringway;

namespace {

unsigned available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return unsigned(CPU_COUNT(&set));
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

// Each worker's share of the process descriptor limit when it uses ordinary descriptors,
// leaving room for listeners, eventfds and whatever else the process opens.
unsigned ordinary_fd_share(unsigned workers) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  uint64_t limit = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : rl.rlim_cur;
  uint64_t reserve = 64 + 4 * uint64_t(workers);
  return limit > reserve ? unsigned((limit - reserve) / workers) : 1;
}

LogLevel level_from(const std::string& s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

// Loads the registry and token files named in cfg. At start-up an error is fatal; on SIGHUP
// the old ones stay. Returns false with the reason.
bool load_identity(const Config& cfg, std::shared_ptr<const auth::DeviceRegistry>& devices,
                   std::shared_ptr<const auth::ServiceTokens>& tokens, std::string& err) {
  if (!cfg.devices_file.empty()) {
    auto r = auth::DeviceRegistry::load_file(cfg.devices_file);
    if (!r.registry) {
      err = r.error;
      return false;
    }
    devices = r.registry;
  } else {
    devices = auth::DeviceRegistry::parse("", "(none)").registry;
  }
  if (!cfg.service_tokens_file.empty()) {
    auto r = auth::ServiceTokens::load_file(cfg.service_tokens_file);
    if (!r.tokens) {
      err = r.error;
      return false;
    }
    tokens = r.tokens;
  } else {
    tokens = auth::ServiceTokens::parse("", "(none)").tokens;
  }
  return true;
}

// Sends a record from an outside thread, waiting for room: a full ring only means the worker is
// busy for a moment, and these records (verdicts, reloads) must not be lost.
bool send_outside(io::MailHub& hub, unsigned producer, unsigned worker, const io::Mail& m,
                  const std::atomic<bool>* stop = nullptr) {
  while (!hub.send_from_outside(producer, worker, m)) {
    if (stop && stop->load(std::memory_order_relaxed)) return false;
    timespec ts{0, 100000};
    nanosleep(&ts, nullptr);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  app::KeygenOptions keygen;
  switch (app::parse_command_line(argc, argv, cfg, keygen)) {
    case app::CliResult::kKeygen: return app::run_keygen(keygen);
    case app::CliResult::kRun: break;
    case app::CliResult::kExitOk: return 0;
    case app::CliResult::kExitError: return 2;
  }
  set_log_level(level_from(cfg.log_level));
  unsigned workers = cfg.workers ? cfg.workers : available_cores();

  io::ListenAddress addr;
  std::string err;
  if (!io::parse_listen_address(cfg.listen, addr, err)) {
    std::fprintf(stderr, "ringway: --listen: %s\n", err.c_str());
    return 2;
  }
  io::ListenOptions lopts;
  lopts.keepalive_idle_s = cfg.tcp_keepalive_idle_s;
  lopts.keepalive_interval_s = cfg.tcp_keepalive_interval_s;
  lopts.keepalive_count = cfg.tcp_keepalive_count;
  uint16_t port = 0;
  std::vector<int> fds = io::open_listeners(addr, workers, lopts, port, err);
  if (fds.empty()) {
    std::fprintf(stderr, "ringway: %s\n", err.c_str());
    return 1;
  }

  // Signals are taken by this thread only, with sigwait; workers never see them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<const auth::DeviceRegistry> devices;
  std::shared_ptr<const auth::ServiceTokens> tokens;
  if (!load_identity(cfg, devices, tokens, err)) {
    std::fprintf(stderr, "ringway: %s\n", err.c_str());
    return 1;
  }
  if (cfg.devices_file.empty())
    LOG_WARN("no --devices registry: every device connect will be DEVICE_UNKNOWN");

  gateway::GatewayOptions gopts = gateway::GatewayOptions::from(cfg);
  gopts.workers = workers;
  // One key for the channel hash on every worker (so all agree on each channel's sequencer),
  // and one epoch for this process's channel histories.
  RAND_bytes(reinterpret_cast<uint8_t*>(gopts.channel_hash_key), sizeof gopts.channel_hash_key);
  {
    uint8_t e[8];
    RAND_bytes(e, sizeof e);
    gopts.node_epoch = auth::hex_lower(std::span<const uint8_t>(e, sizeof e));
  }
  std::vector<std::unique_ptr<gateway::Gateway>> handlers;
  std::vector<std::unique_ptr<io::Worker>> ws;
  unsigned auth_threads = cfg.auth_threads ? cfg.auth_threads : std::max(1u, available_cores() / 4);
  // Mail producers: the workers, then one per verifier thread, then this thread.
  io::MailHub hub(workers, auth_threads + 1, cfg.mail_ring_entries, gateway::dispose_mail);
  if (!cfg.msg_ring) hub.disable_msg_ring();
  const unsigned main_producer = workers + auth_threads;
  // Verdicts go back to the worker that owns the connection, through its mail ring.
  auth::VerifierPool pool(auth_threads, cfg.auth_queue, cfg.auth_timeout_ms / 2,
                          [&hub, workers](unsigned thread, uint32_t worker, auth::VerifyOutcome& out) {
                            auto* owned = new auth::VerifyOutcome(std::move(out));
                            io::Mail m;
                            m.kind = gateway::mail_kind::kVerdict;
                            m.p = owned;
                            if (hub.send_from_outside(workers + thread, worker, m)) return true;
                            out = std::move(*owned);  // the pool tries again in a moment
                            delete owned;
                            return false;
                          });
  pool.set_identity(devices, tokens);
  pool.set_extra_delay_us(cfg.auth_test_delay_us);
  gateway::AuthLimits limits;
  limits.auth_failures_per_window = cfg.auth_failure_limit;
  limits.auth_failure_window_ms = cfg.auth_failure_window_ms;
  gateway::AuthContext auth_ctx(pool, limits);
  gateway::AddressCapLimits cap_limits;
  cap_limits.http = cfg.max_http_per_address;
  cap_limits.echo = cfg.max_echo_per_address;
  cap_limits.unauthenticated = cfg.max_unauthenticated_per_address;
  gateway::AddressCaps caps(cap_limits);

  for (unsigned i = 0; i < workers; ++i) {
    handlers.push_back(std::make_unique<gateway::Gateway>(gopts, i, caps, &auth_ctx));
    io::WorkerOptions wo;
    wo.index = i;
    wo.ring.defer_taskrun = cfg.defer_taskrun;
    wo.ring.entries = cfg.ring_entries;
    wo.direct_descriptors = cfg.direct_descriptors;
    wo.max_connections = cfg.max_connections_per_worker;
    wo.ordinary_fd_share = ordinary_fd_share(workers);
    wo.recv_buffers = cfg.recv_buffers;
    wo.recv_buffer_size = cfg.recv_buffer_size;
    wo.drain_timeout_ms = cfg.close_timeout_ms + 1000;
    ws.push_back(std::make_unique<io::Worker>(wo, *handlers.back(), fds[i], &hub));
  }

  std::latch ready(workers);
  std::vector<std::string> errors(workers);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < workers; ++i) {
    threads.emplace_back([&, i] {
      bool ok = ws[i]->init(errors[i]);
      ready.count_down();
      if (ok) ws[i]->run();
    });
    pthread_setname_np(threads.back().native_handle(), ("rw-worker-" + std::to_string(i)).c_str());
  }
  ready.wait();
  for (unsigned i = 0; i < workers; ++i) {
    if (!errors[i].empty()) {
      std::fprintf(stderr, "ringway: worker %u: %s\n", i, errors[i].c_str());
      for (auto& w : ws) w->request_drain();
      for (auto& t : threads) t.join();
      return 1;
    }
  }

  std::string host = addr.host.find(':') != std::string::npos ? "[" + addr.host + "]" : addr.host;
#ifdef RINGWAY_NO_MIMALLOC
  const char* allocator = "system malloc";
#else
  const char* allocator = mi_version() > 0 ? "mimalloc" : "system malloc";
#endif
  std::printf("ringway listening on %s:%u (%u workers, %s descriptors, %s rings, %s)\n",
              host.c_str(), port, workers,
              ws[0]->using_direct_descriptors() ? "direct" : "ordinary",
              ws[0]->using_defer_taskrun() ? "defer-taskrun" : "plain", allocator);
  std::printf("  ws://%s:%u%s        gateway protocol (%zu devices, %zu service tokens)\n",
              host.c_str(), port, cfg.ws_path.c_str(), devices->size(), tokens->size());
  if (cfg.echo_route) std::printf("  ws://%s:%u/echo      WebSocket echo\n", host.c_str(), port);
  std::printf("  http://%s:%u/healthz  health check\n", host.c_str(), port);
  std::fflush(stdout);

  int sig = 0;
  for (;;) {
    // Wakes every second to write the summary of peer-caused log lines held back.
    timespec tick{1, 0};
    sig = sigtimedwait(&sigs, nullptr, &tick);
    log_flush_suppressed();
    if (sig < 0) continue;
    if (sig != SIGHUP) break;
    // Reload on this thread, never on a ring: a million-line registry takes a moment.
    std::shared_ptr<const auth::DeviceRegistry> new_devices;
    std::shared_ptr<const auth::ServiceTokens> new_tokens;
    if (!load_identity(cfg, new_devices, new_tokens, err)) {
      LOG_ERROR("reload failed, keeping the previous registry and tokens: %s", err.c_str());
      continue;
    }
    auto old = pool.identity();
    auto notice = std::make_shared<gateway::ReloadNotice>();
    notice->devices = new_devices->changed_since(*old->devices);
    notice->services = new_tokens->changed_since(*old->tokens);
    notice->identity = pool.set_identity(new_devices, new_tokens);
    LOG_INFO("reloaded: %zu devices, %zu service tokens; %zu devices and %zu services changed",
             new_devices->size(), new_tokens->size(), notice->devices.size(),
             notice->services.size());
    if (notice->devices.empty() && notice->services.empty()) continue;
    std::shared_ptr<const gateway::ReloadNotice> shared = notice;
    for (unsigned i = 0; i < workers; ++i) {
      io::Mail m;
      m.kind = gateway::mail_kind::kReload;
      m.p = new std::shared_ptr<const gateway::ReloadNotice>(shared);
      send_outside(hub, main_producer, i, m);
    }
  }
  LOG_INFO("signal %d: draining", sig);
  for (auto& w : ws) w->request_drain();
  for (auto& t : threads) t.join();
  pool.stop();
  for (unsigned i = 0; i < workers; ++i) {
    const gateway::GatewayStats& g = handlers[i]->stats();
    LOG_INFO("gateway %u stats: upgrades=%lu http_errors=%lu protocol_errors=%lu messages=%lu "
             "pings=%lu handshake_timeouts=%lu idle_timeouts=%lu close_timeouts=%lu "
             "message_timeouts=%lu slow_consumers=%lu over_address_cap=%lu connects=%lu "
             "auth_ok=%lu auth_failed=%lu auth_shed=%lu auth_timeouts=%lu connect_timeouts=%lu "
             "revoked=%lu regranted=%lu",
             i, g.upgrades, g.http_errors, g.protocol_errors, g.messages, g.pings_sent,
             g.handshake_timeouts, g.idle_timeouts, g.close_timeouts, g.message_timeouts,
             g.slow_consumers, g.over_address_cap, g.connects, g.auth_ok, g.auth_failed,
             g.auth_shed, g.auth_timeouts, g.connect_timeouts, g.revoked, g.regranted);
    const gateway::Gateway& h = *handlers[i];
    LOG_INFO("router %u stats: subscribes=%lu unsubscribes=%lu publishes=%lu sends=%lu "
             "publish_refused=%lu deliveries=%lu fanout_mails=%lu rate_limited=%lu "
             "scope_denied=%lu api_requests=%lu api_errors=%lu outbox_deferred=%lu "
             "local_channels=%zu local_subscriptions=%zu sequenced_channels=%zu idle_channels=%zu "
             "evicted_channels=%lu indexed_sessions=%zu",
             i, g.subscribes, g.unsubscribes, g.publishes, g.sends, g.publish_refused,
             g.deliveries, g.fanout_mails, g.rate_limited, g.scope_denied, g.api_requests,
             g.api_errors, g.outbox_deferred, h.local_channels().channels(),
             h.local_channels().subscriptions(), h.sequencer().channels(),
             h.sequencer().idle_channels(), h.sequencer().evicted(), h.indexed_sessions());
  }
  auto v = pool.stats();
  LOG_INFO("verifier stats: verified=%lu failed=%lu shed=%lu expired=%lu", v.verified, v.failed,
           v.shed, v.expired);
  log_flush_suppressed(/*force=*/true);
  LOG_INFO("log lines suppressed: %lu", log_suppressed_total());
  LOG_INFO("stopped");
  return 0;
}
