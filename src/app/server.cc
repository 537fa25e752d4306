#include "app/server.h"

#ifndef RINGWAY_NO_MIMALLOC
#include <mimalloc.h>
#endif
#include <openssl/rand.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <latch>

#include "app/cli.h"
#include "app/sd_notify.h"
#include "auth/keys.h"
#include "auth/registry.h"
#include "auth/service_tokens.h"
#include "common/log.h"
#include "config/options.h"
#include "io/clock.h"
#include "io/listener.h"

namespace ringway::app {

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

// Loads the registry and token files (an empty path: none). Returns false with the reason.
bool load_identity(const std::string& devices_file, const std::string& tokens_file,
                   std::shared_ptr<const auth::DeviceRegistry>& devices,
                   std::shared_ptr<const auth::ServiceTokens>& tokens, std::string& err) {
  auto r = devices_file.empty() ? auth::DeviceRegistry::parse("", "(none)")
                                : auth::DeviceRegistry::load_file(devices_file);
  if (!r.registry) {
    err = r.error;
    return false;
  }
  auto t = tokens_file.empty() ? auth::ServiceTokens::parse("", "(none)")
                               : auth::ServiceTokens::load_file(tokens_file);
  if (!t.tokens) {
    err = t.error;
    return false;
  }
  devices = r.registry;
  tokens = t.tokens;
  return true;
}

// Sends a record from an outside thread, waiting for room: a full ring only means the worker is
// busy for a moment, and these records (verdicts, reloads) must not be lost.
void send_outside(io::MailHub& hub, unsigned producer, unsigned worker, const io::Mail& m) {
  while (!hub.send_from_outside(producer, worker, m)) {
    timespec ts{0, 100000};
    nanosleep(&ts, nullptr);
  }
}

std::string hostport_of(const io::ListenAddress& a, uint16_t port) {
  std::string host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
  return host + ":" + std::to_string(port);
}

}  // namespace

Server::Server(const Config& cfg, std::string config_path, int argc, char** argv)
    : cfg_(cfg), config_path_(std::move(config_path)), argc_(argc), argv_(argv) {}

Server::~Server() {
  for (const Endpoint& e : endpoints_)
    for (int fd : e.fds)
      if (fd >= 0) close(fd);  // only those no worker took
}

bool Server::load_tls(const Config& c, std::shared_ptr<tls::ServerContexts>& out,
                      std::string& err) {
  tls::ServerOptions o;
  o.main = {"", c.tls_cert, c.tls_key};
  o.ticket_rotation_ms = c.tls_ticket_rotation_ms;
  for (const std::string& s : c.tls_sni) {
    tls::CertFiles f;
    if (!tls::parse_sni_option(s, f, err)) {
      err = "--tls-sni: " + err;
      return false;
    }
    o.sni.push_back(f);
  }
  if (!tickets_) tickets_ = std::make_shared<tls::TicketKeys>(c.tls_ticket_rotation_ms);
  out = tls::ServerContexts::load(o, tickets_, err);
  if (!out) err = "TLS: " + err;
  return out != nullptr;
}

std::string Server::identity_path(bool devices) const {
  if (dev_) return devices ? dev_state_.devices_file : dev_state_.tokens_file;
  return devices ? cfg_.devices_file : cfg_.service_tokens_file;
}

bool Server::start(std::string& err) {
  set_log_level(level_from(cfg_.log_level));
  set_log_json(cfg_.log_format == "json");
  workers_ = cfg_.workers ? cfg_.workers : available_cores();
  started_ms_ = io::monotonic_ms();

  io::ListenOptions lopts;
  lopts.keepalive_idle_s = cfg_.tcp_keepalive_idle_s;
  lopts.keepalive_interval_s = cfg_.tcp_keepalive_interval_s;
  lopts.keepalive_count = cfg_.tcp_keepalive_count;
  bool any_tls = false;
  for (const std::string& spec : cfg_.listen) {
    Endpoint e;
    std::string text = spec;
    if (text.size() > 4 && text.compare(text.size() - 4, 4, ",tls") == 0) {
      e.tls = any_tls = true;
      text.resize(text.size() - 4);
    }
    io::ListenAddress addr;
    if (!io::parse_listen_address(text, addr, err)) {
      err = "--listen: " + err;
      return false;
    }
    uint16_t port = 0;
    e.fds = io::open_listeners(addr, workers_, lopts, port, err);
    if (e.fds.empty()) return false;
    e.hostport = hostport_of(addr, port);
    endpoints_.push_back(std::move(e));
  }
  hostport_ = endpoints_.front().hostport;
  if (any_tls) {
    std::shared_ptr<tls::ServerContexts> contexts;
    if (!load_tls(cfg_, contexts, err)) return false;
    tls_factory_ = std::make_unique<tls::ServerFactory>(std::move(contexts));
  }

  dev_ = cfg_.dev && cfg_.devices_file.empty() && cfg_.service_tokens_file.empty();
  if (dev_ && !prepare_dev_state(cfg_.state_dir, dev_state_, err)) return false;

  std::shared_ptr<const auth::DeviceRegistry> devices;
  std::shared_ptr<const auth::ServiceTokens> tokens;
  if (!load_identity(identity_path(true), identity_path(false), devices, tokens, err))
    return false;
  if (!dev_ && cfg_.devices_file.empty())
    LOG_WARN("no --devices registry: every device connect will be DEVICE_UNKNOWN");

  gopts_ = gateway::GatewayOptions::from(cfg_);
  gopts_.workers = workers_;
  gopts_.stats = this;
  if (dev_) {
    gopts_.dev_registry = dev_state_.devices_file;
    gopts_.dev_scopes = kDevScopes;
  }
  // One key for the channel hash on every worker (so all agree on each channel's sequencer),
  // and one epoch for this process's channel histories.
  RAND_bytes(reinterpret_cast<uint8_t*>(gopts_.channel_hash_key), sizeof gopts_.channel_hash_key);
  uint8_t e[8];
  RAND_bytes(e, sizeof e);
  gopts_.node_epoch = auth::hex_lower(std::span<const uint8_t>(e, sizeof e));

  auth_threads_ = cfg_.auth_threads ? cfg_.auth_threads : std::max(1u, available_cores() / 4);
  // Mail producers: the workers, one per verifier thread, the main thread, then the bus.
  hub_ = std::make_unique<io::MailHub>(workers_, auth_threads_ + 2, cfg_.mail_ring_entries,
                                       gateway::dispose_mail);
  if (!cfg_.msg_ring) hub_->disable_msg_ring();
  io::MailHub* hub = hub_.get();
  unsigned nworkers = workers_;
  // Verdicts go back to the worker that owns the connection, through its mail ring.
  pool_ = std::make_unique<auth::VerifierPool>(
      auth_threads_, cfg_.auth_queue, cfg_.auth_timeout_ms / 2,
      [hub, nworkers](unsigned thread, uint32_t worker, auth::VerifyOutcome& out) {
        auto* owned = new auth::VerifyOutcome(std::move(out));
        io::Mail m;
        m.kind = gateway::mail_kind::kVerdict;
        m.p = owned;
        if (hub->send_from_outside(nworkers + thread, worker, m)) return true;
        out = std::move(*owned);  // the pool tries again in a moment
        delete owned;
        return false;
      });
  pool_->set_identity(devices, tokens);
  if (!cfg_.bus.empty()) {
    bus::Options bo;
    if (!bus::parse_bus_url(cfg_.bus, bo, err)) {
      err = "--bus: " + err;
      return false;
    }
    bo.node_id = cfg_.node_id;
    if (bo.node_id.empty()) {
      uint8_t id[6];
      RAND_bytes(id, sizeof id);
      bo.node_id = auth::hex_lower(std::span<const uint8_t>(id, sizeof id));
    }
    bo.partitions = cfg_.bus_partitions;
    bo.history_ttl_ms = cfg_.bus_history_ttl_ms;
    // The largest data a subscriber here could be sent without passing its output limit.
    bo.max_data = gopts_.max_buffered > 4096 ? gopts_.max_buffered - 4096 : gopts_.max_buffered;
    bo.workers = workers_;
    bo.ring_entries = cfg_.mail_ring_entries;
    uint64_t key[2] = {gopts_.channel_hash_key[0], gopts_.channel_hash_key[1]};
    bo.sequencer_of = [key, nworkers](std::string_view channel) {
      return gateway::channel_sequencer(key, nworkers, channel);
    };
    unsigned bus_producer = workers_ + auth_threads_ + 1;
    bo.to_worker = [hub, bus_producer](unsigned worker, const io::Mail& m) {
      return hub->send_from_outside(bus_producer, worker, m);
    };
    bus_ = std::make_unique<bus::Bus>(std::move(bo));
    if (!bus_->start(err)) return false;
    gopts_.bus = bus_.get();
    LOG_INFO("bus: %s as node %s (%u partitions)", bus::redacted_bus_url(cfg_.bus).c_str(),
             bus_->options().node_id.c_str(), cfg_.bus_partitions);
  }
  pool_->set_extra_delay_us(cfg_.auth_test_delay_us);
  gateway::AuthLimits limits;
  limits.auth_failures_per_window = cfg_.auth_failure_limit;
  limits.auth_failure_window_ms = cfg_.auth_failure_window_ms;
  auth_ctx_ = std::make_unique<gateway::AuthContext>(*pool_, limits);
  gateway::AddressCapLimits cap_limits;
  cap_limits.http = cfg_.max_http_per_address;
  cap_limits.echo = cfg_.max_echo_per_address;
  cap_limits.unauthenticated = cfg_.max_unauthenticated_per_address;
  caps_ = std::make_unique<gateway::AddressCaps>(cap_limits);

  auto shared = std::make_shared<const gateway::GatewayOptions>(gopts_);
  for (unsigned i = 0; i < workers_; ++i) {
    handlers_.push_back(std::make_unique<gateway::Gateway>(shared, i, *caps_, auth_ctx_.get()));
    io::WorkerOptions wo;
    wo.index = i;
    wo.ring.defer_taskrun = cfg_.defer_taskrun;
    wo.ring.entries = cfg_.ring_entries;
    wo.direct_descriptors = cfg_.direct_descriptors;
    wo.max_connections = cfg_.max_connections_per_worker;
    wo.ordinary_fd_share = ordinary_fd_share(workers_);
    wo.recv_buffers = cfg_.recv_buffers;
    wo.recv_buffer_size = cfg_.recv_buffer_size;
    // Spread 1001s, then each peer's close handshake, then a second of slack.
    wo.drain_timeout_ms = cfg_.drain_spread_ms + cfg_.close_timeout_ms + 1000;
    std::vector<io::Listener> ls;
    for (Endpoint& e : endpoints_) {
      ls.push_back({e.fds[i], e.tls ? tls_factory_.get() : nullptr});
      e.fds[i] = -1;  // the worker owns it now
    }
    workers_v_.push_back(std::make_unique<io::Worker>(wo, *handlers_.back(), std::move(ls), hub_.get()));
  }

  std::latch ready(workers_);
  std::vector<std::string> errors(workers_);
  for (unsigned i = 0; i < workers_; ++i) {
    threads_.emplace_back([this, i, &ready, &errors] {
      bool ok = workers_v_[i]->init(errors[i]);
      ready.count_down();
      if (ok) workers_v_[i]->run();
    });
    pthread_setname_np(threads_.back().native_handle(), ("rw-worker-" + std::to_string(i)).c_str());
  }
  ready.wait();
  for (unsigned i = 0; i < workers_; ++i) {
    if (!errors[i].empty()) {
      err = "worker " + std::to_string(i) + ": " + errors[i];
      return false;
    }
  }
#ifdef RINGWAY_NO_MIMALLOC
  const char* allocator = "system malloc";
#else
  const char* allocator = mi_version() > 0 ? "mimalloc" : "system malloc";
#endif
  std::printf("ringway listening on %s (%u workers, %s descriptors, %s rings, %s)\n",
              hostport_.c_str(), workers_,
              workers_v_[0]->using_direct_descriptors() ? "direct" : "ordinary",
              workers_v_[0]->using_defer_taskrun() ? "defer-taskrun" : "plain", allocator);
  for (const Endpoint& e : endpoints_) {
    const char* ws = e.tls ? "wss" : "ws";
    const char* http = e.tls ? "https" : "http";
    std::printf("  %s://%s%s        gateway protocol (%zu devices, %zu service tokens)\n", ws,
                e.hostport.c_str(), cfg_.ws_path.c_str(), devices->size(), tokens->size());
    if (cfg_.echo_route) std::printf("  %s://%s/echo      WebSocket echo\n", ws, e.hostport.c_str());
    std::printf("  %s://%s/  status page; /healthz, /metrics, POST /v1/publish, /v1/send\n",
                http, e.hostport.c_str());
  }
  if (dev_) {
    if (dev_state_.created)
      std::printf("%s", dev_banner(dev_state_, hostport_).c_str());
    else
      std::printf("development mode: using the key, registry and token in %s/\n",
                  dev_state_.dir.c_str());
  }
  std::fflush(stdout);
  return true;
}

int Server::run() {
  // Signals are taken by this thread only; workers never see them. Blocked before any thread
  // starts, so every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string err;
  if (!start(err)) {
    std::fprintf(stderr, "ringway: %s\n", err.c_str());
    for (auto& w : workers_v_) w->request_drain();
    for (auto& t : threads_) t.join();
    return 1;
  }
  sd_notify_state("READY=1");
  int sig = 0;
  for (;;) {
    // Wakes every second to write the summary of peer-caused log lines held back.
    timespec tick{1, 0};
    sig = sigtimedwait(&sigs, nullptr, &tick);
    log_flush_suppressed();
    if (sig < 0) continue;
    if (sig != SIGHUP) break;
    sd_notify_state("RELOADING=1");
    reload();
    sd_notify_state("READY=1");
  }
  LOG_INFO("signal %d: draining (a second SIGINT or SIGTERM exits at once)", sig);
  sd_notify_state("STOPPING=1");
  for (auto& w : workers_v_) w->request_drain();
  // Wait for the workers, but a second signal ends the process now.
  std::atomic<unsigned> done{0};
  std::thread joiner([this, &done] {
    for (auto& t : threads_) t.join();
    done.store(1);
  });
  while (!done.load()) {
    timespec tick{0, 50'000'000};
    int again = sigtimedwait(&sigs, nullptr, &tick);
    if (again == SIGINT || again == SIGTERM) {
      LOG_WARN("signal %d again: exiting without finishing the drain", again);
      log_flush_suppressed(true);
      std::fflush(stderr);
      _exit(1);
    }
  }
  joiner.join();
  if (bus_) bus_->stop();
  pool_->stop();
  log_exit_stats();
  LOG_INFO("stopped");
  return 0;
}

void Server::reload() {
  // The file again, with the same flags over it; a file that fails keeps everything as it was.
  Config next;
  KeygenOptions unused_keygen;
  std::string path;
  if (!config_path_.empty()) {
    if (parse_command_line(argc_, argv_, next, unused_keygen, path) != CliResult::kRun) {
      ++reload_failures_;
      LOG_ERROR("reload: %s did not load or validate (see above); nothing changed",
                config_path_.c_str());
      return;
    }
  } else {
    next = cfg_;
  }
  std::string changed, restart;
  for (const config::Option& o : config::options()) {
    if (config::equal_values(o, cfg_, next)) continue;
    (o.reloadable ? changed : restart).append(" ").append(o.key);
  }
  if (!restart.empty())
    LOG_WARN("reload: these settings changed but need a restart to take effect:%s",
             restart.c_str());
  // What may change now: every reloadable setting; the rest stays as it started.
  Config applied = cfg_;
  for (const config::Option& o : config::options()) {
    if (!o.reloadable) continue;
    std::visit([&](auto m) { applied.*m = next.*m; }, o.member);
  }
  set_log_level(level_from(applied.log_level));
  set_log_json(applied.log_format == "json");
  if (tls_factory_) {
    // Certificates are read again on every reload (a renewed file keeps its name): new
    // connections get the new ones, open ones keep theirs; a bad file keeps the old set.
    std::shared_ptr<tls::ServerContexts> contexts;
    std::string err;
    if (load_tls(applied, contexts, err)) {
      tls_factory_->replace(std::move(contexts));
      LOG_INFO("reloaded TLS certificates");
    } else {
      ++reload_failures_;
      LOG_ERROR("reload: keeping the previous TLS certificates: %s", err.c_str());
      applied.tls_cert = cfg_.tls_cert;
      applied.tls_key = cfg_.tls_key;
      applied.tls_sni = cfg_.tls_sni;
    }
  }
  cfg_ = applied;
  std::string identity;
  if (!reload_identity(applied, identity)) return;
  if (!changed.empty()) {
    gateway::GatewayOptions g = gateway::GatewayOptions::from(applied);
    g.workers = gopts_.workers;
    g.stats = gopts_.stats;
    g.bus = gopts_.bus;
    g.dev_registry = gopts_.dev_registry;
    g.dev_scopes = gopts_.dev_scopes;
    g.node_epoch = gopts_.node_epoch;
    g.channel_hash_key[0] = gopts_.channel_hash_key[0];
    g.channel_hash_key[1] = gopts_.channel_hash_key[1];
    g.max_idle_channels = gopts_.max_idle_channels;  // sized at start
    gopts_ = g;
    auto shared = std::make_shared<const gateway::GatewayOptions>(g);
    for (unsigned i = 0; i < workers_; ++i) {
      io::Mail m;
      m.kind = gateway::mail_kind::kOptions;
      m.p = new std::shared_ptr<const gateway::GatewayOptions>(shared);
      send_outside(*hub_, workers_ + auth_threads_, i, m);
    }
    pool_->set_extra_delay_us(applied.auth_test_delay_us);
  }
  ++reloads_;
  LOG_INFO("reloaded: %s; settings changed:%s", identity.c_str(),
           changed.empty() ? " none" : changed.c_str());
}

bool Server::reload_identity(const Config& next, std::string& summary) {
  // Reloaded on this thread, never on a ring: a million-line registry takes a moment.
  std::string devices_file = dev_ ? dev_state_.devices_file : next.devices_file;
  std::string tokens_file = dev_ ? dev_state_.tokens_file : next.service_tokens_file;
  std::shared_ptr<const auth::DeviceRegistry> devices;
  std::shared_ptr<const auth::ServiceTokens> tokens;
  std::string err;
  if (!load_identity(devices_file, tokens_file, devices, tokens, err)) {
    ++reload_failures_;
    LOG_ERROR("reload failed, keeping the previous registry and tokens: %s", err.c_str());
    return false;
  }
  auto old = pool_->identity();
  auto notice = std::make_shared<gateway::ReloadNotice>();
  notice->devices = devices->changed_since(*old->devices);
  notice->services = tokens->changed_since(*old->tokens);
  notice->identity = pool_->set_identity(devices, tokens);
  summary = std::to_string(devices->size()) + " devices, " + std::to_string(tokens->size()) +
            " service tokens; " + std::to_string(notice->devices.size()) + " devices and " +
            std::to_string(notice->services.size()) + " services changed";
  if (notice->devices.empty() && notice->services.empty()) return true;
  std::shared_ptr<const gateway::ReloadNotice> shared = notice;
  for (unsigned i = 0; i < workers_; ++i) {
    io::Mail m;
    m.kind = gateway::mail_kind::kReload;
    m.p = new std::shared_ptr<const gateway::ReloadNotice>(shared);
    send_outside(*hub_, workers_ + auth_threads_, i, m);
  }
  return true;
}

void Server::log_exit_stats() {
  for (unsigned i = 0; i < workers_; ++i) {
    std::string a, b, d;
    const gateway::GatewayStats& g = handlers_[i]->stats();
    g.each([&a](const char* n, const Counter& c) {
      a.append(" ").append(n).append("=").append(std::to_string(c.get()));
    });
    g.each_routing([&b](const char* n, const Counter& c) {
      b.append(" ").append(n).append("=").append(std::to_string(c.get()));
    });
    g.each_deflate([&d](const char* n, const Counter& c) {
      d.append(" ").append(n).append("=").append(std::to_string(c.get()));
    });
    LOG_INFO("gateway %u stats:%s", i, a.c_str());
    LOG_INFO("router %u stats:%s", i, b.c_str());
    LOG_INFO("deflate %u stats:%s", i, d.c_str());
  }
  auto v = pool_->stats();
  LOG_INFO("verifier stats: verified=%lu failed=%lu shed=%lu expired=%lu", v.verified, v.failed,
           v.shed, v.expired);
  log_flush_suppressed(/*force=*/true);
  LOG_INFO("log lines suppressed: %lu", log_suppressed_total());
}

}  // namespace ringway::app
