// idle_hold: opens many idle WebSocket connections to one server, holds them, and reports the
// server's resident memory per held connection. bench/compare_all.sh uses it for the idle
// workload when tools/ringway-load is not built.
//
//   idle_hold --url ws://127.0.0.1:PORT/echo --connections N --duration S --server-pid PID
//             [--source-addrs 127.0.0.1-127.0.0.8 | A,B,...] [--per-process 16000]
//             [--window 256] [--handshake-timeout 5] [--json]
//
// A process may hold at most RLIMIT_NOFILE descriptors (20000 here, a hard limit), so the
// connections are split over child processes of at most --per-process each. Each child keeps at
// most --window handshakes in progress, answers pings, and gives up opening more after --window
// handshakes in a row have failed (a server at its own descriptor limit stops accepting, and
// every further attempt would only wait for the timeout).
//
// The parent reads VmRSS of --server-pid before any connection, again once every child has
// finished its handshakes (plus one second for the server to settle), holds for --duration
// seconds while reading the server's CPU time, and then counts the connections still open.
// The JSON names follow ringway-load's: server_rss_per_conn_bytes, errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1", path = "/";
  int port = 0;
  int connections = 1000, per_process = 16000, window = 256, server_pid = 0;
  double duration = 10, handshake_timeout = 5;
  std::vector<in_addr> sources;
  bool json = false;
};

[[noreturn]] void die(const std::string& msg) {
  fprintf(stderr, "idle_hold: %s\n", msg.c_str());
  exit(2);
}

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void sleep_s(double s) {
  timespec ts{time_t(s), long((s - double(time_t(s))) * 1e9)};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

// "127.0.0.1-127.0.0.8" (a range in the last octet) or "A,B,C".
std::vector<in_addr> parse_sources(const std::string& s) {
  std::vector<in_addr> out;
  size_t dash = s.find('-');
  if (dash != std::string::npos) {
    in_addr a{}, b{};
    if (inet_pton(AF_INET, s.substr(0, dash).c_str(), &a) != 1 ||
        inet_pton(AF_INET, s.substr(dash + 1).c_str(), &b) != 1)
      die("bad --source-addrs range " + s);
    uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
    if (hi < lo || hi - lo > 65535) die("bad --source-addrs range " + s);
    for (uint32_t v = lo; v <= hi; ++v) out.push_back(in_addr{htonl(v)});
    return out;
  }
  for (size_t at = 0; at <= s.size();) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    if (comma > at) {
      in_addr a{};
      if (inet_pton(AF_INET, s.substr(at, comma - at).c_str(), &a) != 1)
        die("bad source address " + s.substr(at, comma - at));
      out.push_back(a);
    }
    at = comma + 1;
  }
  return out;
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--url") url = val();
    else if (a == "--connections") o.connections = atoi(val().c_str());
    else if (a == "--duration") o.duration = atof(val().c_str());
    else if (a == "--server-pid") o.server_pid = atoi(val().c_str());
    else if (a == "--source-addrs") o.sources = parse_sources(val());
    else if (a == "--per-process") o.per_process = atoi(val().c_str());
    else if (a == "--window") o.window = atoi(val().c_str());
    else if (a == "--handshake-timeout") o.handshake_timeout = atof(val().c_str());
    else if (a == "--json") o.json = true;
    else die("unknown option " + a);
  }
  if (url.rfind("ws://", 0) != 0) die("--url must look like ws://HOST:PORT/PATH");
  std::string rest = url.substr(5);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) die("--url needs a port");
  o.host = hostport.substr(0, colon);
  o.port = atoi(hostport.c_str() + colon + 1);
  if (o.connections < 1 || o.per_process < 1 || o.window < 1 || o.duration < 0)
    die("connections, per-process and window must be positive");
  if (o.sources.empty()) o.sources.push_back(in_addr{htonl(INADDR_LOOPBACK)});
  return o;
}

long rss_bytes(int pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, nullptr, 10);
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

double cpu_s(int pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  char buf[2048];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long long ut = 0, st = 0;
  // Fields after the name: state is 3, utime 14, stime 15.
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return double(ut + st) / double(sysconf(_SC_CLK_TCK));
}

// ---- child: opens and holds its share of the connections ----

enum State : uint8_t { kConnecting, kUpgrading, kOpen, kDone };

struct Conn {
  int fd = -1;
  State state = kDone;
  double started = 0;
  std::string in;
};

struct Holder {
  const Options& opt;
  int first, count;  // global indices [first, first+count)
  int ep = -1;
  std::vector<Conn> conns;
  std::vector<int> pending;  // indices still handshaking
  int next = 0, held = 0, failed = 0, dropped = 0, fail_streak = 0;
  bool stop_opening = false;
  std::string first_error;
  std::string request;
  sockaddr_in dst{};

  Holder(const Options& o, int f, int c) : opt(o), first(f), count(c), conns(c) {}

  void note(const std::string& what) {
    if (first_error.empty()) first_error = what;
  }

  void fail(int i, const std::string& why) {
    Conn& c = conns[i];
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.state = kDone;
    c.in.clear();
    c.in.shrink_to_fit();
    ++failed;
    note(why);
    if (++fail_streak >= opt.window) {
      stop_opening = true;
      note("gave up after " + std::to_string(fail_streak) + " failed handshakes in a row");
    }
  }

  bool open_one() {
    int i = next;
    Conn& c = conns[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      note(std::string("socket: ") + strerror(errno));
      stop_opening = true;
      return false;
    }
    ++next;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr = opt.sources[size_t(first + i) % opt.sources.size()];
    c.fd = fd;
    c.started = now_s();
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src))) {
      fail(i, std::string("bind: ") + strerror(errno));
      return true;
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) && errno != EINPROGRESS) {
      fail(i, std::string("connect: ") + strerror(errno));
      return true;
    }
    c.state = kConnecting;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = uint32_t(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    pending.push_back(i);
    return true;
  }

  void on_event(int i, uint32_t events) {
    Conn& c = conns[i];
    if (c.state == kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) return fail(i, std::string("connect: ") + strerror(err));
      if (!(events & EPOLLOUT)) return;
      if (send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
        return fail(i, "sending the upgrade request failed");
      c.state = kUpgrading;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = uint32_t(i);
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      return;
    }
    char buf[4096];
    ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
      if (c.state == kUpgrading)
        return fail(i, r == 0 ? "closed before the 101" : std::string("recv: ") + strerror(errno));
      close(c.fd);
      c.fd = -1;
      c.state = kDone;
      ++dropped;
      return;
    }
    c.in.append(buf, size_t(r));
    if (c.state == kUpgrading) {
      size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.in.size() > 8192) fail(i, "upgrade response too long");
        return;
      }
      if (c.in.rfind("HTTP/1.1 101", 0) != 0)
        return fail(i, "upgrade refused: " + c.in.substr(0, c.in.find('\r')));
      c.in.erase(0, end + 4);
      c.state = kOpen;
      ++held;
      fail_streak = 0;
    }
    answer_frames(i);
  }

  // An idle connection sees only pings (answered with a masked pong) or a close.
  void answer_frames(int i) {
    Conn& c = conns[i];
    while (c.in.size() >= 2) {
      auto b = reinterpret_cast<const unsigned char*>(c.in.data());
      size_t len = b[1] & 0x7f, h = 2;
      if (len == 126) {
        if (c.in.size() < 4) return;
        len = (size_t(b[2]) << 8) | b[3];
        h = 4;
      } else if (len == 127) {
        close(c.fd);  // nothing this large is expected on an idle connection
        c.fd = -1;
        c.state = kDone;
        ++dropped;
        return;
      }
      if (c.in.size() < h + len) return;
      unsigned op = b[0] & 0x0f;
      if (op == 0x8) {
        close(c.fd);
        c.fd = -1;
        c.state = kDone;
        ++dropped;
        return;
      }
      if (op == 0x9 && len <= 125) {
        std::string pong;
        pong += char(0x8a);
        pong += char(0x80 | len);
        pong.append(4, '\0');  // a zero mask: the payload goes unchanged
        pong.append(c.in, h, len);
        send(c.fd, pong.data(), pong.size(), MSG_NOSIGNAL);
      }
      c.in.erase(0, h + len);
    }
    c.in.shrink_to_fit();
  }

  void expire() {
    double now = now_s();
    size_t keep = 0;
    for (int i : pending) {
      Conn& c = conns[i];
      if (c.state == kConnecting || c.state == kUpgrading) {
        if (now - c.started > opt.handshake_timeout) {
          fail(i, "handshake timed out");
          continue;
        }
        pending[keep++] = i;
      }
    }
    pending.resize(keep);
  }

  // Phase 1: open everything, then write "held failed" to `report`. Phase 2: hold until `stop`
  // reads EOF, then write "open dropped first_error" and return.
  void run(int report, int stop) {
    dst.sin_family = AF_INET;
    dst.sin_port = htons(uint16_t(opt.port));
    if (inet_pton(AF_INET, opt.host.c_str(), &dst.sin_addr) != 1) die("host must be IPv4");
    request = "GET " + opt.path + " HTTP/1.1\r\nHost: " + opt.host + ":" +
              std::to_string(opt.port) +
              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: aWRsZS1ob2xkLWJlbmNoIQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n";
    ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event sev{};
    sev.events = EPOLLIN;
    sev.data.u32 = UINT32_MAX;
    epoll_ctl(ep, EPOLL_CTL_ADD, stop, &sev);
    bool reported = false;
    std::vector<epoll_event> evs(1024);
    for (;;) {
      while (!stop_opening && next < count && int(pending.size()) < opt.window)
        if (!open_one()) break;
      expire();
      if (!reported && pending.empty() && (stop_opening || next >= count)) {
        dprintf(report, "%d %d\n", held, failed);
        reported = true;
      }
      int n = epoll_wait(ep, evs.data(), int(evs.size()), 100);
      for (int k = 0; k < n; ++k) {
        if (evs[k].data.u32 == UINT32_MAX) {
          if (!reported) dprintf(report, "%d %d\n", held, failed);
          int open = 0;
          for (auto& c : conns) open += c.state == kOpen;
          std::string err = first_error.empty() ? "-" : first_error;
          for (auto& ch : err)
            if (ch == '\n') ch = ' ';
          dprintf(report, "%d %d %s\n", open, dropped, err.c_str());
          return;
        }
        int i = int(evs[k].data.u32);
        if (conns[i].state != kDone) on_event(i, evs[k].events);
      }
    }
  }
};

// Reads one line from fd (blocking); empty if the child is gone.
std::string read_line(int fd) {
  std::string s;
  char ch;
  while (read(fd, &ch, 1) == 1) {
    if (ch == '\n') break;
    s += ch;
  }
  return s;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  int procs = (opt.connections + opt.per_process - 1) / opt.per_process;
  long rss0 = opt.server_pid ? rss_bytes(opt.server_pid) : -1;
  if (opt.server_pid && rss0 < 0) die("cannot read /proc/" + std::to_string(opt.server_pid));

  struct Child {
    pid_t pid;
    int report, stop;
  };
  std::vector<Child> kids;
  double t0 = now_s();
  for (int p = 0; p < procs; ++p) {
    int first = int(int64_t(opt.connections) * p / procs);
    int last = int(int64_t(opt.connections) * (p + 1) / procs);
    int rep[2], stp[2];
    if (pipe(rep) || pipe(stp)) die("pipe failed");
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      close(rep[0]);
      close(stp[1]);
      for (auto& k : kids) {
        close(k.report);
        close(k.stop);
      }
      Holder h(opt, first, last - first);
      h.run(rep[1], stp[0]);
      _exit(0);
    }
    close(rep[1]);
    close(stp[0]);
    kids.push_back({pid, rep[0], stp[1]});
  }

  int held = 0, failed = 0;
  for (auto& k : kids) {
    int h = 0, f = 0;
    if (sscanf(read_line(k.report).c_str(), "%d %d", &h, &f) != 2) f = -1;
    held += h;
    failed += f < 0 ? 0 : f;
  }
  double connect_s = now_s() - t0;
  sleep_s(1);  // let the server finish whatever the last accepts started
  long rss1 = opt.server_pid ? rss_bytes(opt.server_pid) : -1;
  double cpu0 = opt.server_pid ? cpu_s(opt.server_pid) : -1;
  sleep_s(opt.duration);
  double cpu1 = opt.server_pid ? cpu_s(opt.server_pid) : -1;
  long rss2 = opt.server_pid ? rss_bytes(opt.server_pid) : -1;
  bool server_alive = !opt.server_pid || (rss2 >= 0 && cpu1 >= 0);

  int still_open = 0, dropped = 0;
  std::string first_error = "-";
  for (auto& k : kids) {
    close(k.stop);
    int o = 0, d = 0;
    char err[512] = "";
    std::string line = read_line(k.report);
    if (sscanf(line.c_str(), "%d %d %511[^\n]", &o, &d, err) >= 2) {
      still_open += o;
      dropped += d;
      if (first_error == "-" && err[0] && strcmp(err, "-") != 0) first_error = err;
    }
  }
  for (auto& k : kids) {
    waitpid(k.pid, nullptr, 0);
    close(k.report);
  }

  double per_conn = held > 0 && rss0 >= 0 && rss1 >= 0 ? double(rss1 - rss0) / held : 0;
  int errors = failed + dropped + (server_alive ? 0 : 1);
  fprintf(opt.json ? stderr : stdout,
          "idle: %d of %d connections held (%d failed, %d dropped while held) in %.1f s over %d "
          "processes; server RSS %.1f -> %.1f MiB (%.1f after %.0f s), %.0f bytes per connection, "
          "server CPU while idle %.2f s; first error: %s\n",
          held, opt.connections, failed, dropped, connect_s, procs, rss0 / 1048576.0,
          rss1 / 1048576.0, rss2 / 1048576.0, opt.duration, per_conn,
          cpu1 >= 0 && cpu0 >= 0 ? cpu1 - cpu0 : 0, first_error.c_str());
  if (opt.json)
    printf("{\"connections\": %d, \"held\": %d, \"failed\": %d, \"dropped\": %d, "
           "\"still_open\": %d, \"connect_s\": %.2f, \"duration_s\": %.1f, "
           "\"server_rss_before_bytes\": %ld, \"server_rss_after_bytes\": %ld, "
           "\"server_rss_end_bytes\": %ld, \"server_rss_per_conn_bytes\": %.0f, "
           "\"server_cpu_s\": %.2f, \"errors\": %d, \"first_error\": \"%s\"}\n",
           opt.connections, held, failed, dropped, still_open, connect_s, opt.duration, rss0,
           rss1, rss2, per_conn, cpu1 >= 0 && cpu0 >= 0 ? cpu1 - cpu0 : 0, errors,
           json_escape(first_error).c_str());
  fflush(stdout);
  return errors ? 1 : 0;
}
