// Checks end to end against small in-process servers that behave well or badly in one way.
#include "probe/checks.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

#include "tcp_pair.h"
#include "tls/context.h"

namespace ringway::probe {
namespace {

using namespace std::chrono_literals;
using test::Listener;
using test::write_all;

// Serves one connection on a thread: optionally completes the opening handshake, then runs
// `script` on the descriptor. The descriptor is closed when the server is destroyed (unless
// the script closed it and returned -1 through `fd`).
class FakeServer {
 public:
  FakeServer(bool upgrade, std::function<void(int& fd)> script)
      : thread_([this, upgrade, script = std::move(script)] {
          fd_ = listener_.accept();
          if (fd_ < 0) return;
          if (upgrade && !handshake()) return;
          script(fd_);
        }) {}
  ~FakeServer() {
    thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  ProbeOptions options(std::chrono::milliseconds max_wait) const {
    ProbeOptions o;
    o.target.url.host = "127.0.0.1";
    o.target.url.port = listener_.port();
    o.target.url.path = "/";
    o.target.endpoint = listener_.endpoint();
    o.max_wait = max_wait;
    o.ping_wait = max_wait;
    o.setup_limit = 2000ms;
    return o;
  }
 private:
  bool handshake() {
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (::recv(fd_, &c, 1, 0) != 1) return false;
      head += c;
    }
    std::string key;
    size_t k = head.find("Sec-WebSocket-Key: ");
    if (k != std::string::npos) key = head.substr(k + 19, head.find("\r\n", k) - k - 19);
    write_all(fd_, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                       expected_accept(key) + "\r\n\r\n");
    return true;
  }

  Listener listener_;
  int fd_ = -1;
  std::thread thread_;
};

Bytes close_frame(uint16_t code, std::string_view reason) {
  FrameSpec spec;
  spec.opcode = opcode::kClose;
  spec.masked = false;
  return build_frame(spec, close_payload(code, reason));
}

TEST(Checks, SilentTcpPassesWhenTheServerCloses) {
  FakeServer s(false, [](int& fd) {
    std::this_thread::sleep_for(100ms);
    ::close(fd);
    fd = -1;
  });
  CheckResult r = check_silent_tcp(s.options(2000ms));
  EXPECT_TRUE(r.pass) << r.detail;
  EXPECT_EQ(r.name, "silent-tcp");
  EXPECT_GE(r.elapsed, 90ms);
  EXPECT_LT(r.elapsed, 1500ms);
}

TEST(Checks, SilentTcpFailsAtMaxWait) {
  FakeServer s(false, [&](int&) {});
  Clock::time_point t0 = Clock::now();
  CheckResult r = check_silent_tcp(s.options(300ms));
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.detail.find("still open after 300ms"), std::string::npos) << r.detail;
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST(Checks, HeaderDribblePaceLeavesAtLeastTwelveBytesBeforeTheDeadline) {
  ProbeOptions o;
  o.max_wait = 120'000ms;
  EXPECT_EQ(header_dribble_interval(o), 500ms);
  o.max_wait = 6'000ms;
  EXPECT_EQ(header_dribble_interval(o), 500ms);
  o.max_wait = 3'000ms;
  EXPECT_EQ(header_dribble_interval(o), 250ms);
  o.max_wait = 600ms;
  EXPECT_EQ(header_dribble_interval(o), 50ms);
  o.max_wait = 5ms;
  EXPECT_EQ(header_dribble_interval(o), 1ms);
}

TEST(Checks, HeaderDribbleFailsWhenTheServerWaitsForever) {
  // A server that never answers and never closes: the dribble runs to max-wait.
  FakeServer s(false, [&](int&) {});
  CheckResult r = check_header_dribble(s.options(600ms));
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.detail.find("still open after 600ms"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("one byte every 50ms"), std::string::npos) << r.detail;
}

TEST(Checks, HeaderDribblePassesWhenTheServerCutsTheRequest) {
  FakeServer s(false, [&](int& fd) {
    std::this_thread::sleep_for(120ms);
    ::close(fd);
    fd = -1;
  });
  CheckResult r = check_header_dribble(s.options(2000ms));
  EXPECT_TRUE(r.pass) << r.detail;
  EXPECT_NE(r.detail.find("before the request was complete"), std::string::npos) << r.detail;
}

TEST(Checks, CloseUnansweredPassesWhenTheServerClosesAfterItsCloseTimeout) {
  FakeServer s(true, [&](int& fd) {
    uint8_t buf[64];
    ::recv(fd, buf, sizeof buf, 0);  // the RSV1 frame
    Bytes c = close_frame(1002, "reserved bits");
    write_all(fd, c.data(), c.size());
    ::shutdown(fd, SHUT_WR);
    std::this_thread::sleep_for(200ms);  // the server's close timeout
    ::close(fd);
    fd = -1;
  });
  CheckResult r = check_close_unanswered(s.options(2000ms));
  EXPECT_TRUE(r.pass) << r.detail;
  // Measured up to the real close, not the FIN right after the close frame.
  EXPECT_GE(r.elapsed, 190ms) << r.detail;
  EXPECT_LT(r.elapsed, 1500ms) << r.detail;
  EXPECT_NE(r.detail.find("close 1002"), std::string::npos) << r.detail;
}

TEST(Checks, CloseUnansweredFailsOnAServerThatOnlyHalfCloses) {
  // Close frame and FIN, but the socket is held until the test ends: the 12-hour failure with a
  // shutdown() in front of it.
  FakeServer s(true, [&](int& fd) {
    uint8_t buf[4096];
    ::recv(fd, buf, sizeof buf, 0);
    Bytes c = close_frame(1002, "reserved bits");
    write_all(fd, c.data(), c.size());
    ::shutdown(fd, SHUT_WR);
    // Keep reading (the probe's pongs) until the probe gives up and closes its end.
    Deadline until = Clock::now() + 5s;
    while (Clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0 && ::recv(fd, buf, sizeof buf, 0) <= 0) break;
    }
  });
  CheckResult r = check_close_unanswered(s.options(400ms));
  EXPECT_FALSE(r.pass) << r.detail;
  EXPECT_NE(r.detail.find("FIN at"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("still open"), std::string::npos) << r.detail;
}

TEST(Checks, InvalidUtf8WantsCode1007) {
  FakeServer s(true, [&](int& fd) {
    uint8_t buf[64];
    ::recv(fd, buf, sizeof buf, 0);
    Bytes c = close_frame(1002, "wrong code");
    write_all(fd, c.data(), c.size());
    ::recv(fd, buf, sizeof buf, 0);  // the probe answers the close
    ::close(fd);
    fd = -1;
  });
  CheckResult r = check_invalid_utf8(s.options(2000ms));
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.detail.find("expected 1007"), std::string::npos) << r.detail;
}

TEST(Checks, UnmaskedFramePassesOn1002ThenClose) {
  FakeServer s(true, [&](int& fd) {
    uint8_t buf[64];
    ::recv(fd, buf, sizeof buf, 0);
    Bytes c = close_frame(1002, "unmasked frame");
    write_all(fd, c.data(), c.size());
    ::recv(fd, buf, sizeof buf, 0);
    ::close(fd);
    fd = -1;
  });
  CheckResult r = check_unmasked_frame(s.options(2000ms));
  EXPECT_TRUE(r.pass) << r.detail;
  EXPECT_NE(r.detail.find("(answered)"), std::string::npos) << r.detail;
}

TEST(Checks, OversizedLengthAcceptsAPlainTcpClose) {
  FakeServer s(true, [&](int& fd) {
    uint8_t buf[64];
    ::recv(fd, buf, sizeof buf, 0);
    ::close(fd);
    fd = -1;
  });
  CheckResult r = check_oversized_length(s.options(2000ms));
  EXPECT_TRUE(r.pass) << r.detail;
  EXPECT_NE(r.detail.find("no close frame"), std::string::npos) << r.detail;
}

TEST(Checks, NeverPongFailsFastWithoutPings) {
  FakeServer s(true, [&](int&) {});
  ProbeOptions o = s.options(5000ms);
  o.ping_wait = 200ms;
  Clock::time_point t0 = Clock::now();
  CheckResult r = check_never_pong(o);
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.detail.find("no ping within 200ms"), std::string::npos) << r.detail;
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST(Checks, UpgradeFailureIsReported) {
  FakeServer s(false, [&](int& fd) {
    char buf[1024];
    ::recv(fd, buf, sizeof buf, 0);
    write_all(fd, std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
  });
  CheckResult r = check_upgrade_silence(s.options(2000ms));
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.detail.find("404"), std::string::npos) << r.detail;
}

TEST(Checks, RegistryHasTheChecksInOrder) {
  std::vector<std::string> names;
  for (const CheckInfo& c : all_checks()) names.emplace_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "silent-tcp", "header-dribble", "upgrade-silence", "never-pong",
                       "close-unanswered", "half-close", "never-read", "oversized-length",
                       "invalid-utf8", "unmasked-frame", "rsv1-unnegotiated",
                       "rsv1-continuation", "deflate-bomb", "tls-stalled-handshake",
                       "tls-garbage"}));
  EXPECT_EQ(find_check("never-read")->run, &check_never_read);
  EXPECT_FALSE(find_check("never-read")->tls_only);
  EXPECT_TRUE(find_check("tls-garbage")->tls_only);
  EXPECT_EQ(find_check("nope"), nullptr);
}

TEST(Checks, TheBombInflatesToWhatItClaimsInAThousandthOfIt) {
  for (uint64_t n : {uint64_t(3) << 20, (uint64_t(3) << 20) + 5}) {
    Bytes bomb = deflate_zeros(n);
    EXPECT_LT(bomb.size(), n / 500) << n;
    bomb.insert(bomb.end(), {0x00, 0x00, 0xff, 0xff});
    z_stream z{};
    ASSERT_EQ(inflateInit2(&z, -15), Z_OK);
    std::vector<uint8_t> out(n + 1, 1);
    z.next_in = bomb.data();
    z.avail_in = uInt(bomb.size());
    z.next_out = out.data();
    z.avail_out = uInt(out.size());
    inflate(&z, Z_SYNC_FLUSH);
    EXPECT_EQ(z.total_out, n);
    EXPECT_EQ(z.avail_in, 0u);
    inflateEnd(&z);
    out.resize(n);
    EXPECT_EQ(std::count(out.begin(), out.end(), 0), long(n));
  }
}

// The TLS checks against servers that do not speak TLS at all: one answers an HTTP request on
// the "TLS" port, one reads the half ClientHello and then holds the connection.
ProbeOptions tls_options(const FakeServer& s, std::chrono::milliseconds max_wait) {
  ProbeOptions o = s.options(max_wait);
  o.target.url.secure = true;
  std::string err;
  o.target.tls = tls::ClientContext::make(true, "", false, err);
  o.prompt_limit = 500ms;
  return o;
}

TEST(Checks, TlsGarbageFailsWhenTheServerAnswersInHttp) {
  FakeServer s(false, [](int& fd) {
    char buf[512];
    ::recv(fd, buf, sizeof buf, 0);
    write_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    ::close(fd);
    fd = -1;
  });
  CheckResult r = check_tls_garbage(tls_options(s, 2000ms));
  EXPECT_FALSE(r.pass) << r.detail;
  EXPECT_NE(r.detail.find("an HTTP answer on a TLS port"), std::string::npos) << r.detail;
}

TEST(Checks, TlsStalledHandshakeFailsWhenTheServerWaitsForever) {
  std::atomic<size_t> got{0};
  FakeServer s(false, [&](int& fd) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    got = n > 0 ? size_t(n) : 0;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 2000);  // until the probe gives up and closes
  });
  CheckResult r = check_tls_stalled_handshake(tls_options(s, 300ms));
  EXPECT_FALSE(r.pass) << r.detail;
  EXPECT_NE(r.detail.find("still open"), std::string::npos) << r.detail;
  EXPECT_GT(got.load(), 16u);  // half of a real ClientHello: a record header and more
}

TEST(Checks, ParallelRunReportsInOrder) {
  // Two checks against unreachable-by-design servers: results come back in the given order.
  FakeServer a(false, [&](int&) {});
  ProbeOptions o = a.options(200ms);
  std::vector<const CheckInfo*> sel = {find_check("silent-tcp"), find_check("silent-tcp")};
  std::vector<std::string> seen;
  Clock::time_point t0 = Clock::now();
  auto rs = run_checks(o, sel, true, [&](const CheckResult& r) { seen.push_back(r.name); });
  EXPECT_EQ(rs.size(), 2u);
  EXPECT_EQ(seen.size(), 2u);
  // Concurrent: about one max-wait, not two.
  EXPECT_LT(Clock::now() - t0, 2s);
}

}  // namespace
}  // namespace ringway::probe
