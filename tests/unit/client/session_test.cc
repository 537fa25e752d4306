// Session against a scripted gateway on loopback (a thread speaking the protocol by hand), for
// the cases the real server does not produce on demand: a subscribe rate-limited and retried,
// requests cut by a disconnect, an offset gap across reconnects in one epoch, retryAfterMs on
// the connect, a refusal that stops the session, and a clean stop().
#include "ringway/session.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "client/frames.h"
#include "gateway/json_writer.h"
#include "http/handshake.h"
#include "http/upgrade_parser.h"
#include "ws/frame_writer.h"
#include "ws/message_reader.h"

namespace ringway::client {
namespace {

uint64_t mono_ms() {
  SystemClock c;
  return c.now_ms();
}

// The server end of one WebSocket, blocking, every read bounded by a deadline.
class Peer final : ws::MessageSink {
 public:
  explicit Peer(int fd) : fd_(fd) {}
  ~Peer() override {
    if (fd_ >= 0) ::close(fd_);
  }

  bool upgrade() {
    http::UpgradeParser p;
    while (p.state() == http::ParseState::kNeedMore) {
      uint8_t buf[4096];
      ssize_t n = recv_some(buf, sizeof buf);
      if (n <= 0) return false;
      p.feed({buf, size_t(n)});
    }
    auto check = http::check_upgrade(p.request());
    if (check.status != 0) return false;
    char accept[http::kAcceptKeyLength];
    http::compute_accept_key(check.key, accept);
    std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " + std::string(accept, sizeof accept) + "\r\n\r\n";
    return put(r);
  }

  bool send_text(std::string_view text) {
    ByteBuffer b;
    if (!ws::write_frame(b, ws::Opcode::kText, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}))
      return false;
    return put({reinterpret_cast<const char*>(b.data()), b.size()});
  }

  bool send_close(uint16_t code, std::string_view reason) {
    ByteBuffer b;
    return ws::write_close(b, code, reason) && put({reinterpret_cast<const char*>(b.data()), b.size()});
  }

  // The next text message ("" on timeout, EOF or a close frame).
  std::string read_text(int timeout_ms = 5000) {
    uint64_t deadline = mono_ms() + timeout_ms;
    while (texts_.empty() && !closed_) {
      uint64_t now = mono_ms();
      if (now >= deadline) return "";
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, int(deadline - now)) != 1) return "";
      uint8_t buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "";
      reader_.feed({buf, size_t(n)}, *this);
    }
    if (texts_.empty()) return "";
    std::string t = std::move(texts_.front());
    texts_.erase(texts_.begin());
    return t;
  }

  // Challenge, the connect request, and a hello (or `refusal` instead of a hello).
  std::string login(uint64_t ping_ms = 30000, std::string_view refusal = {}) {
    send_text(gateway::challenge_event("bm9uY2U", 1));
    std::string req = read_text();
    if (!refusal.empty()) {
      send_text(refusal);
      return req;
    }
    std::vector<std::string> scopes{"subscribe:*"};
    gateway::HelloInfo h{"0.1.0", "c-1", "service", "", scopes, 1 << 20, 4 << 20, ping_ms, 3 * ping_ms};
    send_text(gateway::hello_response("1", h));
    return req;
  }

  int close_code_seen() const { return close_code_; }
  bool closed() const { return closed_; }
  void hang_up() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  ssize_t recv_some(uint8_t* buf, size_t n) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return -1;
    return ::recv(fd_, buf, n, 0);
  }
  bool put(std::string_view s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()); }

  void on_message(ws::Opcode, std::span<const uint8_t> p) override { texts_.emplace_back(p.begin(), p.end()); }
  void on_ping(std::span<const uint8_t>) override {}
  void on_pong(std::span<const uint8_t>) override {}
  void on_close(uint16_t code, std::span<const uint8_t>) override {
    close_code_ = code;
    closed_ = true;
    send_close(code, "");
  }

  int fd_;
  ws::MessageReader reader_;
  std::vector<std::string> texts_;
  int close_code_ = 0;
  bool closed_ = false;
};

// A listening socket and a script thread that accepts and talks.
class FakeGateway {
 public:
  FakeGateway() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~FakeGateway() {
    if (script_.joinable()) script_.join();
    ::close(fd_);
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/ws"; }

  // The next upgraded connection, or nullptr after timeout_ms.
  std::unique_ptr<Peer> accept(int timeout_ms = 5000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return nullptr;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return nullptr;
    auto peer = std::make_unique<Peer>(c);
    if (!peer->upgrade()) return nullptr;
    accepted_ms.push_back(mono_ms());
    return peer;
  }

  void run(std::function<void(FakeGateway&)> script) {
    script_ = std::thread([this, s = std::move(script)] {
      s(*this);
      done = true;
    });
  }

  std::atomic<bool> done{false};
  std::vector<uint64_t> accepted_ms;  // read after the script is done
  std::string failure;                // set by the script when something was not as expected

 private:
  int fd_;
  uint16_t port_ = 0;
  std::thread script_;
};

SessionOptions options_for(const FakeGateway& gw) {
  SessionOptions o;
  o.url = gw.url();
  o.token = "t";
  o.scopes = {"subscribe:*"};
  o.reconnect.base_ms = 20;
  o.reconnect.max_ms = 40;
  o.reconnect.drain_spread_ms = 20;
  return o;
}

// Runs the session until pred() or the deadline.
bool run_until(Session& s, const std::function<bool()>& pred, uint64_t ms = 8000) {
  uint64_t end = mono_ms() + ms;
  while (!pred() && mono_ms() < end) s.run_for(10);
  return pred();
}

#define SCRIPT_EXPECT(gw, cond)                                          \
  do {                                                                   \
    if (!(cond)) {                                                       \
      if ((gw).failure.empty()) (gw).failure = "script: " #cond " failed"; \
      return;                                                            \
    }                                                                    \
  } while (0)

std::string subscribe_answer(std::string_view id, std::string_view epoch, uint64_t offset) {
  std::string p = "{\"epoch\":\"" + std::string(epoch) + "\",\"offset\":" + std::to_string(offset) + "}";
  return gateway::ok_response(id, p);
}

std::string id_of(const std::string& req) {
  size_t a = req.find("\"id\":\"") + 6;
  return req.substr(a, req.find('"', a) - a);
}

TEST(Session, RateLimitedSubscribeIsRetriedAfterRetryAfter) {
  FakeGateway gw;
  std::atomic<uint64_t> refused_at{0}, retried_at{0};
  gw.run([&](FakeGateway& g) {
    auto p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->login();
    std::string req = p->read_text();
    SCRIPT_EXPECT(g, req.find("\"subscribe\"") != std::string::npos);
    p->send_text(gateway::error_response(id_of(req), "UNAVAILABLE", "slow down", true, 300));
    refused_at = mono_ms();
    req = p->read_text();
    retried_at = mono_ms();
    SCRIPT_EXPECT(g, req.find("\"chat.1\"") != std::string::npos);
    p->send_text(subscribe_answer(id_of(req), "E", 4));
    p->read_text(1000);  // until the session stops
  });
  int replies = 0;
  std::vector<Subscribed> subscribed;
  SessionCallbacks cb;
  cb.on_subscribed = [&](const Subscribed& s) { subscribed.push_back(s); };
  Session s(options_for(gw), cb);
  EXPECT_EQ(s.subscribe("chat.1", [&](const Reply& r) {
    ++replies;
    EXPECT_TRUE(r.ok);
  }), Status::kNotConnected);  // recorded; sent with the hello
  ASSERT_TRUE(run_until(s, [&] { return !subscribed.empty(); })) << gw.failure;
  EXPECT_EQ(replies, 1);
  EXPECT_EQ(subscribed[0].offset, 4u);
  EXPECT_FALSE(subscribed[0].resubscribed);
  EXPECT_GE(retried_at.load() - refused_at.load(), 290u);
  s.stop();
  run_until(s, [&] { return s.stopped(); });
}

TEST(Session, DisconnectFailsRequestsAndResubscribeReportsTheGap) {
  FakeGateway gw;
  gw.run([&](FakeGateway& g) {
    auto p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->login();
    std::string req = p->read_text();
    p->send_text(subscribe_answer(id_of(req), "E", 10));
    std::string ev;
    gateway::append_message_event(ev, "chat.1", "svc", 11, "{\"n\":11}");
    p->send_text(ev);
    req = p->read_text();  // the publish: never answered
    SCRIPT_EXPECT(g, req.find("\"publish\"") != std::string::npos);
    p->hang_up();
    p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->login();
    req = p->read_text();
    SCRIPT_EXPECT(g, req.find("\"subscribe\"") != std::string::npos);
    p->send_text(subscribe_answer(id_of(req), "E", 14));
    p->read_text(1000);
  });
  std::vector<std::string> log;
  std::vector<Gap> gaps;
  std::vector<uint64_t> offsets;
  std::vector<std::string> epochs;
  int hellos = 0;
  bool reconnected = false;
  std::optional<std::string> publish_code;
  uint16_t disconnect_code = 0;
  SessionCallbacks cb;
  cb.on_log = [&](std::string_view l) { log.emplace_back(l); };
  cb.on_hello = [&](const Hello& h) {
    ++hellos;
    reconnected = h.reconnected;
  };
  cb.on_gap = [&](const Gap& g) { gaps.push_back(g); };
  cb.on_disconnect = [&](uint16_t code, std::string_view, uint64_t) { disconnect_code = code; };
  Session* sp = nullptr;
  cb.on_message = [&](std::string_view ch, std::string_view, uint64_t off, std::string_view data,
                      std::string_view epoch) {
    offsets.push_back(off);
    epochs.emplace_back(epoch);
    EXPECT_EQ(ch, "chat.1");
    EXPECT_EQ(data, "{\"n\":11}");
    EXPECT_EQ(sp->publish("chat.1", "[1]", [&](const Reply& r) { publish_code = std::string(r.code); }),
              Status::kOk);
  };
  Session s(options_for(gw), cb);
  sp = &s;
  s.subscribe("chat.1");
  ASSERT_TRUE(run_until(s, [&] { return !gaps.empty(); })) << gw.failure;
  EXPECT_EQ(offsets, std::vector<uint64_t>{11});
  EXPECT_EQ(epochs, std::vector<std::string>{"E"});
  EXPECT_EQ(publish_code, "DISCONNECTED");
  EXPECT_EQ(disconnect_code, 1006);
  EXPECT_EQ(hellos, 2);
  EXPECT_TRUE(reconnected);
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].kind, Gap::Kind::kOffsets);
  EXPECT_EQ(gaps[0].first, 12u);
  EXPECT_EQ(gaps[0].last, 14u);
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log[0].find("session lasted"), std::string::npos) << log[0];
  EXPECT_EQ(s.subscriptions(), std::vector<std::string>{"chat.1"});
  s.stop();
  run_until(s, [&] { return s.stopped(); });
}

TEST(Session, ConnectRefusalWithRetryAfterDelaysTheNextAttempt) {
  FakeGateway gw;
  gw.run([&](FakeGateway& g) {
    auto p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->send_text(gateway::error_response("", "UNAVAILABLE", "busy", true, 400));
    p->send_close(1013, "UNAVAILABLE");
    p->read_text(1000);
    p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->login();
    p->read_text(1000);
  });
  bool hello = false;
  SessionCallbacks cb;
  cb.on_log = [](std::string_view) {};
  cb.on_hello = [&](const Hello&) { hello = true; };
  Session s(options_for(gw), cb);  // backoff alone would retry within 20 ms
  ASSERT_TRUE(run_until(s, [&] { return hello; })) << gw.failure;
  s.stop();
  run_until(s, [&] { return s.stopped(); });
  while (!gw.done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(gw.accepted_ms.size(), 2u);
  EXPECT_GE(gw.accepted_ms[1] - gw.accepted_ms[0], 400u);
  EXPECT_LE(gw.accepted_ms[1] - gw.accepted_ms[0], 400u * 12 / 10 + 600);
}

TEST(Session, UnfixableRefusalStopsTheSession) {
  FakeGateway gw;
  gw.run([&](FakeGateway& g) {
    auto p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->login(30000, gateway::error_response("1", "TOKEN_INVALID", "unknown token", false, 0));
    p->send_close(1008, "TOKEN_INVALID");
    p->read_text(500);
    if (g.accept(500)) g.failure = "the session tried again";
  });
  std::vector<SessionError> errors;
  SessionCallbacks cb;
  cb.on_error = [&](const SessionError& e) { errors.push_back(e); };
  Session s(options_for(gw), cb);
  ASSERT_TRUE(run_until(s, [&] { return s.stopped(); }));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].fatal);
  EXPECT_EQ(errors[0].code, "TOKEN_INVALID");
  ASSERT_TRUE(s.fatal_error());
  EXPECT_EQ(s.publish("c", "1"), Status::kStopped);
  while (!gw.done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(gw.failure, "");
}

TEST(Session, StopClosesWith1000AndRunReturns) {
  FakeGateway gw;
  std::atomic<int> seen_code{0};
  gw.run([&](FakeGateway& g) {
    auto p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->login();
    p->read_text(3000);  // returns at the close frame
    seen_code = p->close_code_seen();
  });
  SessionCallbacks cb;
  Session* sp = nullptr;
  cb.on_hello = [&](const Hello&) { sp->stop(); };
  Session s(options_for(gw), cb);
  sp = &s;
  uint64_t t0 = mono_ms();
  s.run();
  EXPECT_TRUE(s.stopped());
  EXPECT_LT(mono_ms() - t0, 2500u);
  while (!gw.done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(seen_code, 1000);
}

TEST(Session, StopFromOnDisconnectMeansNoReconnect) {
  FakeGateway gw;
  gw.run([&](FakeGateway& g) {
    auto p = g.accept();
    SCRIPT_EXPECT(g, p);
    p->login();
    p->hang_up();
    if (g.accept(500)) g.failure = "the session reconnected after stop()";
  });
  SessionCallbacks cb;
  cb.on_log = [](std::string_view) {};
  Session* sp = nullptr;
  int disconnects = 0;
  cb.on_disconnect = [&](uint16_t, std::string_view, uint64_t) {
    ++disconnects;
    sp->stop();
  };
  Session s(options_for(gw), cb);
  sp = &s;
  ASSERT_TRUE(run_until(s, [&] { return s.stopped(); }));
  EXPECT_EQ(disconnects, 1);
  while (!gw.done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(gw.failure, "");
}

TEST(Session, BadOptionsFailToStart) {
  std::vector<SessionError> errors;
  SessionCallbacks cb;
  cb.on_error = [&](const SessionError& e) { errors.push_back(e); };
  SessionOptions o;
  o.url = "ws:/127.0.0.1:1/ws";
  o.token = "t";
  Session a(o, cb);
  EXPECT_FALSE(a.start());
  o.url = "ws://127.0.0.1:1/ws";
  o.token.clear();
  Session b(o, cb);
  EXPECT_FALSE(b.run_for(10));
  o.url = "wss://127.0.0.1:1/ws";
  o.token = "t";
  o.tls_ca_file = "/nonexistent/ca.pem";
  Session c(o, cb);
  EXPECT_FALSE(c.start());
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].code, "BAD_URL");
  EXPECT_EQ(errors[1].code, "BAD_CREDENTIALS");
  EXPECT_EQ(errors[2].code, "TLS_CONFIG");
  EXPECT_NE(errors[2].message.find("/nonexistent/ca.pem"), std::string::npos) << errors[2].message;
  EXPECT_EQ(b.subscribe("x"), Status::kStopped);
}

}  // namespace
}  // namespace ringway::client
