// echo_load: a closed-loop WebSocket echo load client (epoll, one or more threads).
//
//   echo_load --url ws://127.0.0.1:PORT/echo --connections N --depth K --size BYTES
//             --duration SECONDS --warmup SECONDS [--source-addrs 127.0.0.1,127.0.0.2]
//             [--threads T] [--server-pid PID] [--json]
//
// Opens N connections, upgrades each (the 101 and its Sec-WebSocket-Accept are checked), then
// keeps K binary messages of BYTES bytes in flight per connection (masked, a random mask per
// frame). Every echoed frame is checked: FIN+binary, unmasked, the right length, the payload sent.
// After the warmup it measures for the duration: messages/s and the send-to-echo latency of each
// message (p50/p99/p99.9 from a log-linear histogram). With --server-pid, the server's CPU time
// over the measured window comes from /proc/PID/stat (utime+stime, which sums all its threads),
// giving messages per server CPU-second. Exits nonzero on any protocol or connection error.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/base64.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const char* fmt, const char* a = "", const char* b = "") {
  fprintf(stderr, "echo_load: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n");
  exit(1);
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

uint64_t rng_state = 0x9e3779b97f4a7c15ull;
uint64_t rng(uint64_t& s) {  // xorshift64*
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545f4914f6cdd1dull;
}

// Log-linear histogram of nanoseconds: exact below 128, then 64 linear steps per power of two
// (under 1.6% relative error).
struct Histogram {
  static constexpr int kSub = 64;
  static constexpr int kSize = 128 + 57 * kSub;
  std::vector<uint64_t> counts = std::vector<uint64_t>(kSize, 0);
  uint64_t total = 0;

  static int index(uint64_t v) {
    if (v < 128) return int(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6;
    return 128 + (msb - 7) * kSub + int((v >> shift) - kSub);
  }
  static uint64_t value(int i) {  // the middle of bucket i
    if (i < 128) return uint64_t(i);
    int msb = (i - 128) / kSub + 7, shift = msb - 6;
    uint64_t low = uint64_t((i - 128) % kSub + kSub) << shift;
    return low + (uint64_t(1) << shift) / 2;
  }
  void add(uint64_t v) {
    ++counts[index(v)];
    ++total;
  }
  void merge(const Histogram& o) {
    for (int i = 0; i < kSize; ++i) counts[i] += o.counts[i];
    total += o.total;
  }
  double percentile_us(double p) const {
    if (!total) return 0;
    uint64_t want = uint64_t(p / 100.0 * double(total));
    if (want >= total) want = total - 1;
    uint64_t seen = 0;
    for (int i = 0; i < kSize; ++i) {
      seen += counts[i];
      if (seen > want) return double(value(i)) / 1000.0;
    }
    return 0;
  }
};

struct Options {
  std::string host = "127.0.0.1", path = "/echo";
  int port = 0;
  int connections = 100, depth = 1, threads = 1;
  size_t size = 20;
  double duration = 10, warmup = 2;
  std::vector<std::string> source_addrs;
  int server_pid = 0;
  bool json = false;
};

struct Conn {
  int fd = -1;
  bool dead = false;
  std::vector<unsigned char> in;  // received bytes not yet parsed
  size_t in_len = 0;
  std::vector<unsigned char> out;  // frames not yet written
  size_t out_off = 0;
  bool want_out = false;
  std::vector<uint64_t> sent_at;  // FIFO of send times of the messages in flight (depth slots)
  size_t sent_head = 0, in_flight = 0;
};

std::atomic<int> phase{0};  // 0 warmup, 1 measuring, 2 done

struct Worker {
  const Options* opt = nullptr;
  std::vector<Conn> conns;
  const unsigned char* payload = nullptr;
  uint64_t seed = 0;
  uint64_t messages = 0, errors = 0;
  Histogram hist;
  int ep = -1;

  void error(Conn& c, const char* what) {
    ++errors;
    if (errors <= 10) fprintf(stderr, "echo_load: connection fd %d: %s\n", c.fd, what);
    if (!c.dead) {
      c.dead = true;
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
    }
  }

  // Appends one masked binary frame (or a pong) to the output buffer.
  void frame(Conn& c, unsigned char op, const unsigned char* data, size_t len) {
    unsigned char h[14];
    size_t hl = 0;
    h[hl++] = 0x80 | op;
    if (len < 126) {
      h[hl++] = 0x80 | uint8_t(len);
    } else if (len < 65536) {
      h[hl++] = 0x80 | 126;
      h[hl++] = uint8_t(len >> 8);
      h[hl++] = uint8_t(len);
    } else {
      h[hl++] = 0x80 | 127;
      for (int i = 7; i >= 0; --i) h[hl++] = uint8_t(uint64_t(len) >> (8 * i));
    }
    uint32_t m4 = uint32_t(rng(seed));
    memcpy(h + hl, &m4, 4);
    hl += 4;
    size_t at = c.out.size();
    c.out.resize(at + hl + len);
    unsigned char* o = c.out.data() + at;
    memcpy(o, h, hl);
    o += hl;
    uint64_t m8 = (uint64_t(m4) << 32) | m4;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      uint64_t w;
      memcpy(&w, data + i, 8);
      w ^= m8;
      memcpy(o + i, &w, 8);
    }
    const unsigned char* mb = h + hl - 4;
    for (; i < len; ++i) o[i] = data[i] ^ mb[i & 3];
  }

  void send_messages(Conn& c, int n, uint64_t now) {
    for (int i = 0; i < n; ++i) {
      frame(c, 0x2, payload, opt->size);
      c.sent_at[(c.sent_head + c.in_flight) % c.sent_at.size()] = now;
      ++c.in_flight;
    }
  }

  void flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t w = send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return error(c, strerror(errno));
      }
      c.out_off += size_t(w);
    }
    if (c.out_off == c.out.size()) {
      c.out.clear();
      c.out_off = 0;
    }
    bool want = !c.out.empty();
    if (want != c.want_out) {
      epoll_event ev{};
      ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
      ev.data.ptr = &c;
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_out = want;
    }
  }

  // Parses the server frames in c.in; returns the number of echoed messages it completed.
  int parse(Conn& c, uint64_t now, bool measuring) {
    int done = 0;
    const unsigned char* p = c.in.data();
    const unsigned char* end = p + c.in_len;
    while (end - p >= 2) {
      uint64_t len = p[1] & 0x7f;
      size_t h = 2;
      if (len == 126) {
        if (end - p < 4) break;
        len = (uint64_t(p[2]) << 8) | p[3];
        h = 4;
      } else if (len == 127) {
        if (end - p < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
        h = 10;
      }
      if (p[1] & 0x80) {
        error(c, "server frame is masked");
        return -1;
      }
      if (len > c.in.size() - h) {
        error(c, "server frame larger than the receive buffer");
        return -1;
      }
      if (uint64_t(end - p) < h + len) break;
      unsigned char op = p[0] & 0x0f;
      if (op == 0x9) {  // ping: answer, it is not an echo
        frame(c, 0xa, p + h, len);
      } else if (op == 0xa) {
        // unsolicited pong: ignore
      } else if (op == 0x8) {
        char msg[96];
        unsigned code = len >= 2 ? (unsigned(p[h]) << 8) | p[h + 1] : 0;
        snprintf(msg, sizeof(msg), "server sent close, code %u, reason \"%.*s\"", code,
                 len > 2 ? int(len - 2 < 40 ? len - 2 : 40) : 0,
                 reinterpret_cast<const char*>(p + h + 2));
        error(c, msg);
        return -1;
      } else if (p[0] != 0x82) {
        char msg[64];
        snprintf(msg, sizeof(msg), "unexpected frame byte 0x%02x (want FIN+binary)", p[0]);
        error(c, msg);
        return -1;
      } else if (len != opt->size || memcmp(p + h, payload, len) != 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "echo of %llu bytes differs from the %zu bytes sent",
                 (unsigned long long)len, opt->size);
        error(c, msg);
        return -1;
      } else if (c.in_flight == 0) {
        error(c, "echo of a message that was not sent");
        return -1;
      } else {
        uint64_t t = c.sent_at[c.sent_head];
        c.sent_head = (c.sent_head + 1) % c.sent_at.size();
        --c.in_flight;
        if (measuring) {
          hist.add(now - t);
          ++messages;
        }
        ++done;
      }
      p += h + len;
    }
    c.in_len = end - p;
    if (c.in_len && p != c.in.data()) memmove(c.in.data(), p, c.in_len);
    return done;
  }

  void on_readable(Conn& c) {
    for (;;) {
      ssize_t r = recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return error(c, strerror(errno));
      }
      if (r == 0) return error(c, "server closed the connection");
      c.in_len += size_t(r);
      uint64_t now = now_ns();
      int p = phase.load(std::memory_order_relaxed);
      int done = parse(c, now, p == 1);
      if (done < 0) return;
      if (p < 2) send_messages(c, done, now);
      if (size_t(r) < c.in.size()) break;  // the socket is probably drained
    }
    flush(c);
  }

  void run() {
    ep = epoll_create1(0);
    uint64_t now = now_ns();
    for (auto& c : conns) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &c;
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
      send_messages(c, opt->depth, now);
      if (c.in_len) {  // bytes that came with the 101
        int done = parse(c, now, false);
        if (done > 0) send_messages(c, done, now);
      }
      flush(c);
    }
    std::vector<epoll_event> evs(512);
    while (phase.load(std::memory_order_relaxed) < 2) {
      int n = epoll_wait(ep, evs.data(), int(evs.size()), 50);
      for (int i = 0; i < n; ++i) {
        Conn& c = *static_cast<Conn*>(evs[i].data.ptr);
        if (c.dead) continue;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
        if (!c.dead && (evs[i].events & EPOLLOUT)) flush(c);
      }
    }
    for (auto& c : conns)
      if (!c.dead) close(c.fd);
    close(ep);
  }
};

std::string accept_key(const std::string& key) {
  std::string s = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  unsigned char out[32];
  size_t n = EVP_EncodeBlock(out, d, sizeof(d));
  return std::string(reinterpret_cast<char*>(out), n);
}

bool server_cpu_s(int pid, double& out) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return false;
  char buf[2048];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* p = strrchr(buf, ')');  // the command name may hold spaces and parentheses
  if (!p) return false;
  // After ")": state is field 3; utime and stime are fields 14 and 15.
  unsigned long long utime = 0, stime = 0;
  int field = 2;
  for (const char* q = p + 1; *q && field < 15;) {
    while (*q == ' ') ++q;
    ++field;
    if (field == 14) utime = strtoull(q, nullptr, 10);
    if (field == 15) stime = strtoull(q, nullptr, 10);
    while (*q && *q != ' ') ++q;
  }
  if (field < 15) return false;
  out = double(utime + stime) / double(sysconf(_SC_CLK_TCK));
  return true;
}

double self_cpu_s() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --url ws://HOST:PORT/PATH [--connections N] [--depth K] [--size BYTES]\n"
          "       [--duration S] [--warmup S] [--threads T] [--source-addrs A,B,...]\n"
          "       [--server-pid PID] [--json]\n",
          argv0);
  exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage(argv[0]);
      return argv[++i];
    };
    if (a == "--url") url = val();
    else if (a == "--connections") o.connections = atoi(val());
    else if (a == "--depth") o.depth = atoi(val());
    else if (a == "--size") o.size = strtoull(val(), nullptr, 10);
    else if (a == "--duration") o.duration = atof(val());
    else if (a == "--warmup") o.warmup = atof(val());
    else if (a == "--threads") o.threads = atoi(val());
    else if (a == "--server-pid") o.server_pid = atoi(val());
    else if (a == "--json") o.json = true;
    else if (a == "--source-addrs") {
      std::string s = val();
      for (size_t at = 0; at <= s.size();) {
        size_t comma = s.find(',', at);
        if (comma == std::string::npos) comma = s.size();
        if (comma > at) o.source_addrs.push_back(s.substr(at, comma - at));
        at = comma + 1;
      }
    } else usage(argv[0]);
  }
  if (url.rfind("ws://", 0) != 0) die("--url must look like ws://HOST:PORT/PATH");
  std::string rest = url.substr(5);
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    o.host = hostport;
    o.port = 80;
  } else {
    o.host = hostport.substr(0, colon);
    o.port = atoi(hostport.c_str() + colon + 1);
  }
  if (o.connections < 1 || o.depth < 1 || o.threads < 1 || o.duration <= 0 || o.warmup < 0)
    die("connections, depth, threads and duration must be positive");
  if (o.threads > o.connections) o.threads = o.connections;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);
  rng_state ^= now_ns() ^ (uint64_t(getpid()) << 32);

  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(opt.port);
  if (inet_pton(AF_INET, opt.host.c_str(), &dst.sin_addr) != 1) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    if (getaddrinfo(opt.host.c_str(), nullptr, &hints, &res) || !res)
      die("cannot resolve %s", opt.host.c_str());
    dst.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    freeaddrinfo(res);
  }
  std::vector<sockaddr_in> sources;
  for (auto& s : opt.source_addrs) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, s.c_str(), &a.sin_addr) != 1) die("bad source address %s", s.c_str());
    sources.push_back(a);
  }

  std::vector<unsigned char> payload(opt.size);
  for (auto& b : payload) b = uint8_t(rng(rng_state));

  // Connect everything and send every upgrade request, then read the answers: the server works
  // through the requests while we are still connecting.
  std::vector<int> fds(opt.connections);
  std::vector<std::string> keys(opt.connections);
  for (int i = 0; i < opt.connections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: %s (raise the open-file limit?)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!sources.empty()) {
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
      const sockaddr_in& src = sources[i % sources.size()];
      if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof(src)))
        die("bind source address: %s", strerror(errno));
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)))
      die("connect to %s: %s", opt.host.c_str(), strerror(errno));
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    unsigned char raw[16];
    for (int j = 0; j < 16; j += 8) {
      uint64_t r = rng(rng_state);
      memcpy(raw + j, &r, 8);
    }
    unsigned char k64[32];
    keys[i].assign(reinterpret_cast<char*>(k64), EVP_EncodeBlock(k64, raw, 16));
    std::string req = "GET " + opt.path + " HTTP/1.1\r\nHost: " + opt.host + ":" +
                      std::to_string(opt.port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: " + keys[i] + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size()))
      die("sending the upgrade request: %s", strerror(errno));
    fds[i] = fd;
  }

  std::vector<Worker> workers(opt.threads);
  size_t inbuf = std::max<size_t>(64 * 1024, 2 * (opt.size + 14));
  for (int t = 0; t < opt.threads; ++t) {
    workers[t].opt = &opt;
    workers[t].payload = payload.data();
    workers[t].seed = rng(rng_state) | 1;
    workers[t].conns.reserve(opt.connections / opt.threads + 1);
  }
  for (int i = 0; i < opt.connections; ++i) {
    Conn c;
    c.fd = fds[i];
    c.in.resize(inbuf);
    c.sent_at.resize(opt.depth);
    // Read the response head; anything after it is already WebSocket data.
    for (;;) {
      ssize_t r = recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
      if (r <= 0) die("connection %s: no upgrade response (%s)", std::to_string(i).c_str(),
                      r == 0 ? "closed" : strerror(errno));
      c.in_len += size_t(r);
      const char* s = reinterpret_cast<const char*>(c.in.data());
      const char* e = static_cast<const char*>(memmem(s, c.in_len, "\r\n\r\n", 4));
      if (!e) {
        if (c.in_len == c.in.size()) die("upgrade response too long");
        continue;
      }
      std::string head(s, e - s + 4);
      if (head.rfind("HTTP/1.1 101", 0) != 0)
        die("upgrade refused: %s", head.substr(0, head.find('\r')).c_str());
      std::string want = accept_key(keys[i]);
      bool ok = false;
      for (size_t at = 0; at < head.size();) {
        size_t eol = head.find("\r\n", at);
        std::string line = head.substr(at, eol - at);
        if (strncasecmp(line.c_str(), "Sec-WebSocket-Accept:", 21) == 0) {
          std::string v = line.substr(21);
          while (!v.empty() && v.front() == ' ') v.erase(0, 1);
          while (!v.empty() && v.back() == ' ') v.pop_back();
          ok = v == want;
        }
        at = eol + 2;
      }
      if (!ok) die("Sec-WebSocket-Accept missing or wrong");
      c.in_len -= head.size();
      memmove(c.in.data(), c.in.data() + head.size(), c.in_len);
      break;
    }
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    workers[i % opt.threads].conns.push_back(std::move(c));
  }

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w.run(); });

  auto sleep_s = [](double s) {
    if (s <= 0) return;
    timespec ts{time_t(s), long((s - double(time_t(s))) * 1e9)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
  };
  sleep_s(opt.warmup);
  double cpu0 = 0, cpu1 = 0;
  bool have_cpu = opt.server_pid && server_cpu_s(opt.server_pid, cpu0);
  if (opt.server_pid && !have_cpu)
    fprintf(stderr, "echo_load: cannot read /proc/%d/stat\n", opt.server_pid);
  double self0 = self_cpu_s();
  uint64_t t0 = now_ns();
  phase.store(1);
  sleep_s(opt.duration);
  phase.store(2);
  uint64_t t1 = now_ns();
  double self1 = self_cpu_s();
  if (have_cpu && !server_cpu_s(opt.server_pid, cpu1)) {
    fprintf(stderr, "echo_load: server pid %d is gone\n", opt.server_pid);
    have_cpu = false;
  }
  for (auto& t : threads) t.join();

  Histogram h;
  uint64_t messages = 0, errors = 0;
  for (auto& w : workers) {
    h.merge(w.hist);
    messages += w.messages;
    errors += w.errors;
  }
  if (opt.server_pid && !have_cpu) ++errors;
  double secs = double(t1 - t0) / 1e9;
  double rate = double(messages) / secs;
  double scpu = have_cpu ? cpu1 - cpu0 : 0;
  double per_cpu = scpu > 0 ? double(messages) / scpu : 0;
  double p50 = h.percentile_us(50), p99 = h.percentile_us(99), p999 = h.percentile_us(99.9);

  fprintf(opt.json ? stderr : stdout,
          "%d conns x depth %d x %zu B: %.0f msgs/s (%llu in %.2f s), p50 %.1f us, p99 %.1f us, "
          "p99.9 %.1f us, server CPU %.2f s, %.0f msgs per server CPU-s, client CPU %.2f s, "
          "errors %llu\n",
          opt.connections, opt.depth, opt.size, rate, (unsigned long long)messages, secs, p50, p99,
          p999, scpu, per_cpu, self1 - self0, (unsigned long long)errors);
  if (opt.json) {
    printf("{\"connections\": %d, \"depth\": %d, \"size\": %zu, \"duration_s\": %.3f, "
           "\"messages\": %llu, \"msgs_per_s\": %.1f, \"server_cpu_s\": %.2f, "
           "\"msgs_per_server_cpu_s\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
           "\"p999_us\": %.1f, \"client_cpu_s\": %.2f, \"errors\": %llu}\n",
           opt.connections, opt.depth, opt.size, secs, (unsigned long long)messages, rate, scpu,
           per_cpu, p50, p99, p999, self1 - self0, (unsigned long long)errors);
  }
  fflush(stdout);
  return errors ? 1 : 0;
}
