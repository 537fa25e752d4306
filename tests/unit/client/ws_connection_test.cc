// WsConnection against a scripted server on the other end of a socketpair: the handshake, data
// both ways, pings answered, the close handshake from either side, and the ways a connection
// fails before it opens.
#include "client/ws_connection.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

#include "http/handshake.h"
#include "http/upgrade_parser.h"
#include "ws/frame_writer.h"
#include "ws/message_reader.h"

namespace ringway::client {
namespace {

struct Owner final : WsConnection::Owner {
  bool opened = false;
  std::vector<std::string> texts;
  std::optional<WsClose> closed;
  std::function<void()> on_text_hook;
  void on_ws_open() override { opened = true; }
  void on_ws_text(std::string_view t) override {
    texts.emplace_back(t);
    if (on_text_hook) on_text_hook();
  }
  void on_ws_binary(std::span<const uint8_t>) override {}
  void on_ws_closed(const WsClose& how) override { closed = how; }
};

struct Heard final : ws::MessageSink {
  std::vector<std::string> texts;
  int pings = 0, pongs = 0;
  std::optional<uint16_t> close;
  void on_message(ws::Opcode, std::span<const uint8_t> p) override { texts.emplace_back(p.begin(), p.end()); }
  void on_ping(std::span<const uint8_t>) override { ++pings; }
  void on_pong(std::span<const uint8_t>) override { ++pongs; }
  void on_close(uint16_t code, std::span<const uint8_t>) override { close = code; }
};

class WsConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server_ = sv[1];
    std::string err;
    url_ = *parse_url("ws://127.0.0.1:1/ws", err);
    conn_ = std::make_unique<WsConnection>(loop_, clock_, owner_);
    ASSERT_TRUE(conn_->open(adopt_socket(sv[0]), url_, err)) << err;
  }
  void TearDown() override {
    conn_.reset();
    if (server_ >= 0) ::close(server_);
  }

  // Runs the loop until pred() or 3 s pass.
  bool until(const std::function<bool()>& pred) {
    for (int i = 0; i < 300 && !pred(); ++i) loop_.wait(10);
    return pred();
  }

  // Reads what the client sent (waiting up to 2 s for the first byte).
  std::string server_read() {
    std::string got;
    pollfd p{server_, POLLIN, 0};
    for (int waited = 0; waited < 2000; waited += 10) {
      loop_.wait(0);  // let the client flush
      if (poll(&p, 1, 10) == 1) break;
    }
    char buf[65536];
    for (;;) {
      ssize_t n = recv(server_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
    return got;
  }

  void server_send(std::string_view bytes) {
    ASSERT_EQ(send(server_, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size()));
  }

  void server_frame(ws::Opcode op, std::string_view payload) {
    ByteBuffer b;
    ASSERT_TRUE(ws::write_frame(b, op, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}));
    server_send({reinterpret_cast<const char*>(b.data()), b.size()});
  }

  // Answers the upgrade request with a valid 101 (and `extra` bytes behind it).
  void accept_upgrade(std::string_view extra = {}) {
    std::string req = server_read();
    http::UpgradeParser p;
    p.feed({reinterpret_cast<const uint8_t*>(req.data()), req.size()});
    ASSERT_EQ(p.state(), http::ParseState::kComplete);
    auto check = http::check_upgrade(p.request());
    ASSERT_EQ(check.status, 0);
    char accept[http::kAcceptKeyLength];
    http::compute_accept_key(check.key, accept);
    std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                       std::string(accept, sizeof accept) + "\r\n\r\n";
    server_send(resp + std::string(extra));
  }

  Heard heard() {
    Heard h;
    std::string bytes = server_read();
    ws::MessageReader r;
    r.feed({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, h);
    return h;
  }

  EventLoop loop_;
  SystemClock clock_;
  Owner owner_;
  Url url_;
  std::unique_ptr<WsConnection> conn_;
  int server_ = -1;
};

TEST_F(WsConnectionTest, OpensAndMovesTextBothWays) {
  ByteBuffer first;  // a frame right behind the 101 is not lost
  ASSERT_TRUE(ws::write_frame(first, ws::Opcode::kText, {reinterpret_cast<const uint8_t*>("early"), 5}));
  accept_upgrade({reinterpret_cast<const char*>(first.data()), first.size()});
  ASSERT_TRUE(until([&] { return !owner_.texts.empty(); }));
  EXPECT_TRUE(owner_.opened);
  EXPECT_EQ(owner_.texts[0], "early");
  EXPECT_EQ(conn_->state(), WsConnection::State::kOpen);

  // Frames queued in one turn leave together.
  ASSERT_TRUE(conn_->send_text("one"));
  ASSERT_TRUE(conn_->send_text("two"));
  Heard h = heard();
  EXPECT_EQ(h.texts, (std::vector<std::string>{"one", "two"}));

  server_frame(ws::Opcode::kPing, "x");
  ASSERT_TRUE(until([&] { return conn_->last_rx_ms() != 0; }));
  h = heard();
  EXPECT_EQ(h.pongs, 1);
}

TEST_F(WsConnectionTest, ServerCloseIsAnsweredAndReported) {
  accept_upgrade();
  ASSERT_TRUE(until([&] { return owner_.opened; }));
  server_frame(ws::Opcode::kClose, std::string("\x03\xe9", 2) + "server shutting down");
  ASSERT_TRUE(until([&] { return owner_.closed.has_value(); }));
  EXPECT_EQ(owner_.closed->code, 1001);
  EXPECT_EQ(owner_.closed->reason, "server shutting down");
  EXPECT_TRUE(owner_.closed->server_closed);
  EXPECT_TRUE(owner_.closed->opened);
  Heard h = heard();
  EXPECT_EQ(h.close, 1001);  // echoed
  EXPECT_EQ(conn_->state(), WsConnection::State::kClosed);
}

TEST_F(WsConnectionTest, ClientCloseWaitsForTheServersClose) {
  accept_upgrade();
  ASSERT_TRUE(until([&] { return owner_.opened; }));
  conn_->close(1000, "bye");
  EXPECT_EQ(conn_->state(), WsConnection::State::kClosing);
  EXPECT_NE(conn_->deadline_ms(), 0u);
  Heard h = heard();
  EXPECT_EQ(h.close, 1000);
  EXPECT_FALSE(conn_->send_text("late"));
  server_frame(ws::Opcode::kClose, std::string("\x03\xe8", 2));
  ASSERT_TRUE(until([&] { return owner_.closed.has_value(); }));
  EXPECT_EQ(owner_.closed->code, 1000);
  EXPECT_TRUE(owner_.closed->server_closed);
}

TEST_F(WsConnectionTest, CloseTimesOutWithoutAnAnswer) {
  accept_upgrade();
  ASSERT_TRUE(until([&] { return owner_.opened; }));
  conn_->close(1000, "");
  conn_->on_timer(conn_->deadline_ms() - 1);
  EXPECT_FALSE(owner_.closed);
  conn_->on_timer(conn_->deadline_ms());
  ASSERT_TRUE(owner_.closed);
  EXPECT_EQ(owner_.closed->code, 1006);
  EXPECT_FALSE(owner_.closed->server_closed);
}

TEST_F(WsConnectionTest, EofWithoutACloseFrameIs1006) {
  accept_upgrade();
  ASSERT_TRUE(until([&] { return owner_.opened; }));
  ::close(server_);
  server_ = -1;
  ASSERT_TRUE(until([&] { return owner_.closed.has_value(); }));
  EXPECT_EQ(owner_.closed->code, 1006);
  EXPECT_FALSE(owner_.closed->server_closed);
  EXPECT_TRUE(owner_.closed->opened);
}

TEST_F(WsConnectionTest, NonUpgradeAnswerReportsTheStatus) {
  server_read();
  server_send("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(until([&] { return owner_.closed.has_value(); }));
  EXPECT_FALSE(owner_.opened);
  EXPECT_EQ(owner_.closed->http_status, 404);
  EXPECT_FALSE(owner_.closed->opened);
}

TEST_F(WsConnectionTest, BadServerFrameFailsTheConnectionWithItsCode) {
  accept_upgrade();
  ASSERT_TRUE(until([&] { return owner_.opened; }));
  server_send(std::string("\x81\x81\x01\x02\x03\x04x", 7));  // a masked server frame
  ASSERT_TRUE(until([&] { return owner_.closed.has_value(); }));
  EXPECT_EQ(owner_.closed->code, 1002);
  Heard h = heard();
  EXPECT_EQ(h.close, 1002);
}

TEST_F(WsConnectionTest, OwnerMayCloseFromACallback) {
  owner_.on_text_hook = [&] { conn_->close(1000, ""); };
  accept_upgrade();
  ASSERT_TRUE(until([&] { return owner_.opened; }));
  server_frame(ws::Opcode::kText, "a");
  server_frame(ws::Opcode::kText, "b");
  ASSERT_TRUE(until([&] { return conn_->state() == WsConnection::State::kClosing; }));
  loop_.wait(20);
  EXPECT_EQ(owner_.texts, std::vector<std::string>{"a"});  // nothing delivered after close()
}

TEST_F(WsConnectionTest, OutputLimitRefusesData) {
  conn_.reset();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::close(server_);
  server_ = sv[1];
  WsLimits limits;
  limits.max_output = 1000;
  conn_ = std::make_unique<WsConnection>(loop_, clock_, owner_, limits);
  std::string err;
  ASSERT_TRUE(conn_->open(adopt_socket(sv[0]), url_, err));
  accept_upgrade();
  ASSERT_TRUE(until([&] { return owner_.opened; }));
  EXPECT_TRUE(conn_->send_text(std::string(900, 'a')));
  EXPECT_FALSE(conn_->send_text(std::string(200, 'a')));
  EXPECT_TRUE(conn_->send_ping());  // control frames are not refused
}

SocketAddress loopback(uint16_t port) {
  SocketAddress a{};
  auto* in = reinterpret_cast<sockaddr_in*>(&a.addr);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.len = sizeof(sockaddr_in);
  return a;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

TEST(Transport, ARefusedAddressMovesOnToTheNext) {
  int closed = socket(AF_INET, SOCK_STREAM, 0);  // bound, never listening: connects are refused
  SocketAddress any = loopback(0);
  ASSERT_EQ(bind(closed, reinterpret_cast<sockaddr*>(&any.addr), any.len), 0);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&any.addr), any.len), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  std::string err;
  auto t = open_tcp({loopback(port_of(closed)), loopback(port_of(closed)),
                     loopback(port_of(listener))}, err);
  ASSERT_TRUE(t) << err;
  EventLoop loop;
  SystemClock clock;
  Owner owner;
  WsConnection c(loop, clock, owner);
  Url url = *parse_url("ws://127.0.0.1/ws", err);
  ASSERT_TRUE(c.open(std::move(t), url, err)) << err;
  for (int i = 0; i < 300 && c.state() == WsConnection::State::kConnecting; ++i) loop.wait(10);
  EXPECT_EQ(c.state(), WsConnection::State::kUpgrading);  // connected; the request is on its way
  pollfd p{listener, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 2000), 1);
  ::close(closed);
  ::close(listener);

  // Every address refused: the last error is reported.
  int gone = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(bind(gone, reinterpret_cast<sockaddr*>(&any.addr), any.len), 0);
  auto t2 = open_tcp({loopback(port_of(gone))}, err);
  if (t2) {
    Owner o2;
    WsConnection c2(loop, clock, o2);
    ASSERT_TRUE(c2.open(std::move(t2), url, err));
    for (int i = 0; i < 300 && !o2.closed; ++i) loop.wait(10);
    ASSERT_TRUE(o2.closed);
    EXPECT_NE(o2.closed->reason.find("refused"), std::string::npos) << o2.closed->reason;
  } else {
    EXPECT_NE(err.find("refused"), std::string::npos) << err;
  }
  ::close(gone);
}

}  // namespace
}  // namespace ringway::client
