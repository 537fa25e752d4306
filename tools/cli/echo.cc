// ringway-cli echo: stdin's lines to an echo route, each echo printed as it comes back. At the
// end of stdin it waits for the outstanding echoes (within --timeout of the last line), then
// closes. A plain WebSocket: the client library's connection and loop, without a Session.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/event_loop.h"
#include "client/url.h"
#include "client/ws_connection.h"
#include "tls/context.h"

namespace ringway::cli_tool {

namespace {

class EchoClient final : public client::WsConnection::Owner {
 public:
  EchoClient(client::EventLoop& loop, client::Clock& clock) : conn(loop, clock, *this) {}

  void on_ws_open() override {
    opened = true;
    flush_lines();
  }
  void on_ws_text(std::string_view text) override {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (outstanding) --outstanding;
  }
  void on_ws_binary(std::span<const uint8_t> data) override { on_ws_text({reinterpret_cast<const char*>(data.data()), data.size()}); }
  void on_ws_closed(const client::WsClose& how) override {
    closed = true;
    if (!closing) {
      std::string why = how.http_status ? how.reason
                                        : "closed " + std::to_string(how.code) + " " + how.reason;
      note("error: connection ended: " + why);
      failed = true;
      refused = how.certificate_refused;
    }
  }

  // Sends the complete lines read so far (once open).
  void flush_lines() {
    if (!opened || closed) return;
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(pending.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!conn.send_text(line)) {
        note("error: output buffer full");
        failed = true;
        break;
      }
      ++outstanding;
    }
    pending.erase(0, start);
  }

  client::WsConnection conn;
  std::string pending;  // stdin bytes not yet sent
  uint64_t outstanding = 0;
  bool opened = false, closed = false, closing = false, failed = false, refused = false;
};

}  // namespace

int run_echo(const Options& o) {
  std::string err;
  auto url = client::parse_url(o.url, err);
  if (!url) {
    note("error: " + o.url + ": " + err);
    return kExitUsage;
  }
  client::EventLoop loop;
  client::SystemClock clock;
  std::shared_ptr<tls::ClientContext> tls;
  if (url->secure) {
    tls = tls::ClientContext::make(o.insecure, o.ca_file, false, err);
    if (!tls) {
      note("error: TLS_CONFIG: " + err);
      return kExitTls;
    }
  }
  EchoClient echo(loop, clock);
  if (!echo.conn.open(*url, err, tls)) {
    note("error: " + err);
    return kExitFailed;
  }
  bool stdin_open = true;
  uint64_t deadline = clock.now_ms() + o.timeout_ms;
  loop.watch(STDIN_FILENO, EPOLLIN, [&](uint32_t) {
    char buf[65536];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n > 0) {
      echo.pending.append(buf, size_t(n));
      echo.flush_lines();
      deadline = clock.now_ms() + o.timeout_ms;
      return;
    }
    if (n < 0 && errno == EINTR) return;
    if (!echo.pending.empty() && echo.pending.back() != '\n') {  // a last line without one
      echo.pending += '\n';
      echo.flush_lines();
    }
    stdin_open = false;
    loop.unwatch(STDIN_FILENO);
  });
  int sig = stop_signal_fd();
  bool interrupted = false;
  if (sig >= 0) loop.watch(sig, EPOLLIN, [&](uint32_t) { interrupted = true; });
  while (!echo.closed) {
    uint64_t now = clock.now_ms();
    bool done = !stdin_open && echo.opened && echo.outstanding == 0 && echo.pending.empty();
    if ((done || interrupted || now >= deadline) && !echo.closing) {
      if (!done && !interrupted)
        note("error: " + std::to_string(echo.outstanding) + " echoes missing after " +
             std::to_string(o.timeout_ms) + " ms");
      if (!done && !interrupted) echo.failed = true;
      echo.closing = true;
      if (echo.conn.state() == client::WsConnection::State::kOpen) echo.conn.close(1000, "");
      else echo.conn.abort("given up");
      continue;
    }
    int timeout = int(std::min<uint64_t>(deadline > now ? deadline - now : 0, 1000));
    if (echo.conn.deadline_ms()) timeout = std::min<int>(timeout, 100);
    loop.wait(timeout);
    echo.conn.on_timer(clock.now_ms());
  }
  if (sig >= 0) close(sig);
  if (echo.refused) return kExitTls;
  return echo.failed ? kExitFailed : kExitOk;
}

}  // namespace ringway::cli_tool
