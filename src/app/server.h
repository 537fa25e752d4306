#pragma once
// The running gateway: listeners, the mail hub, the verifier pool, one Gateway and one Worker
// per thread, and the main thread's loop (signals, reloads, log summaries). It is also the
// metrics source: every worker's counters are read here (relaxed loads of single-writer
// counters) and summed when a worker serves /metrics.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/dev_state.h"
#include "auth/verifier_pool.h"
#include "gateway/address_caps.h"
#include "gateway/auth_context.h"
#include "gateway/gateway.h"
#include "io/mail.h"
#include "io/worker.h"
#include "ringway/config.h"
#include "tls/context.h"
#include "tls/session.h"

namespace ringway::app {

class Server final : public gateway::StatsSource {
 public:
  // argv is kept: a reload re-reads the file and applies the same flags over it.
  Server(const Config& cfg, std::string config_path, int argc, char** argv);
  ~Server() override;

  // Starts everything, serves until SIGINT/SIGTERM, drains. Returns the exit status.
  int run();

  void prometheus(std::string& out) override;
  void status_json(std::string& out) override;

 private:
  bool start(std::string& err);
  bool load_tls(const Config& c, std::shared_ptr<tls::ServerContexts>& out, std::string& err);
  void reload();
  bool reload_identity(const Config& next, std::string& summary);
  void log_exit_stats();
  std::string identity_path(bool devices) const;

  Config cfg_;
  std::string config_path_;
  int argc_;
  char** argv_;
  unsigned workers_ = 1;
  unsigned auth_threads_ = 1;
  bool dev_ = false;
  DevState dev_state_;
  std::string hostport_;  // of the first listener (the one the first output line names)
  struct Endpoint {
    std::string hostport;
    bool tls = false;
    std::vector<int> fds;  // one per worker, until the worker takes it
  };
  std::vector<Endpoint> endpoints_;
  std::shared_ptr<tls::TicketKeys> tickets_;
  std::unique_ptr<tls::ServerFactory> tls_factory_;
  std::unique_ptr<io::MailHub> hub_;
  std::unique_ptr<auth::VerifierPool> pool_;
  std::unique_ptr<gateway::AuthContext> auth_ctx_;
  std::unique_ptr<gateway::AddressCaps> caps_;
  gateway::GatewayOptions gopts_;
  std::vector<std::unique_ptr<gateway::Gateway>> handlers_;
  std::vector<std::unique_ptr<io::Worker>> workers_v_;
  std::vector<std::thread> threads_;
  uint64_t started_ms_ = 0;
  std::atomic<uint64_t> reloads_{0}, reload_failures_{0};
};

}  // namespace ringway::app
