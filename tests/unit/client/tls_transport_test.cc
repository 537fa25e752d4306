// The TLS transport under WsConnection, against a server tls::Session on the other end of a
// socketpair, driven from the test's thread: the handshake, messages over several records both
// ways (the client drains what it decrypted without another readiness event), close_notify on
// close, and the certificate check (a trusted CA, a name the certificate does not carry). The
// certificate is made by the openssl command, as the integration tests' PKI is.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>

#include "client/transport.h"
#include "client/ws_connection.h"
#include "http/handshake.h"
#include "tls/context.h"
#include "tls/session.h"
#include "ws/frame_writer.h"
#include "ws/message_reader.h"

namespace ringway::client {
namespace {

// A CA-less self-signed certificate for localhost (and 127.0.0.1), made once.
struct Pki {
  std::string dir, cert, key;
  bool ok = false;
  Pki() {
    char tmpl[] = "/tmp/ringway-tls-test-XXXXXX";
    if (!mkdtemp(tmpl)) return;
    dir = tmpl;
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                      "-keyout " + key + " -out " + cert + " -days 1 -subj /CN=localhost "
                      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1";
    ok = std::system(cmd.c_str()) == 0;
  }
  ~Pki() {
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};
const Pki& pki() {
  static Pki p;
  return p;
}

struct Owner final : WsConnection::Owner {
  bool opened = false;
  std::vector<std::string> texts;
  std::optional<WsClose> closed;
  void on_ws_open() override { opened = true; }
  void on_ws_text(std::string_view t) override { texts.emplace_back(t); }
  void on_ws_binary(std::span<const uint8_t>) override {}
  void on_ws_closed(const WsClose& how) override { closed = how; }
};

struct Plain final : io::PlaintextSink {
  std::string bytes;
  void plaintext(std::span<const uint8_t> b) override { bytes.append(b.begin(), b.end()); }
};

struct Heard final : ws::MessageSink {
  std::vector<std::string> texts;
  std::optional<uint16_t> close;
  void on_message(ws::Opcode, std::span<const uint8_t> p) override { texts.emplace_back(p.begin(), p.end()); }
  void on_ping(std::span<const uint8_t>) override {}
  void on_pong(std::span<const uint8_t>) override {}
  void on_close(uint16_t code, std::span<const uint8_t>) override { close = code; }
};

class TlsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki().ok) << "openssl could not make a certificate";
    tls::ServerOptions so;
    so.main = {"", pki().cert, pki().key};
    std::string err;
    contexts_ = tls::ServerContexts::load(so, std::make_shared<tls::TicketKeys>(3600000), err);
    ASSERT_TRUE(contexts_) << err;
    server_ = std::make_unique<tls::Session>(contexts_);
  }
  void TearDown() override {
    conn_.reset();
    if (fd_ >= 0) ::close(fd_);
  }

  // Opens a WsConnection over TLS for `host` on a socketpair, the server end kept here.
  void open(const std::string& host, bool insecure, const std::string& ca_file) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fd_ = sv[1];
    std::string err;
    auto ctx = tls::ClientContext::make(insecure, ca_file, false, err);
    ASSERT_TRUE(ctx) << err;
    url_ = *parse_url("wss://" + host + ":1/ws", err);
    conn_ = std::make_unique<WsConnection>(loop_, clock_, owner_);
    ASSERT_TRUE(conn_->open(open_tls(adopt_socket(sv[0]), host, ctx), url_, err)) << err;
  }

  // One round: the client's loop, then the server's side (read, decrypt, send its records).
  // Returns the server session's verdict on what it read.
  io::Transport::In pump() {
    loop_.wait(5);
    io::Transport::In in = io::Transport::In::kOk;
    uint8_t buf[65536];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      in = server_->on_recv({buf, size_t(n)}, plain_);
      if (in != io::Transport::In::kOk) break;
    }
    for (auto out = server_->output(); !out.empty(); out = server_->output()) {
      ssize_t n = send(fd_, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) break;
      server_->consumed(size_t(n));
    }
    return in;
  }
  bool until(const std::function<bool()>& pred) {
    for (int i = 0; i < 400 && !pred(); ++i) pump();
    return pred();
  }

  void server_seal(std::string_view bytes) {
    ASSERT_TRUE(server_->seal({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
  }

  void accept_upgrade() {
    ASSERT_TRUE(until([&] { return plain_.bytes.find("\r\n\r\n") != std::string::npos; }));
    size_t k = plain_.bytes.find("Sec-WebSocket-Key: ");
    ASSERT_NE(k, std::string::npos);
    std::string key = plain_.bytes.substr(k + 19, plain_.bytes.find("\r\n", k) - k - 19);
    char accept[http::kAcceptKeyLength];
    http::compute_accept_key(key, accept);
    plain_.bytes.clear();
    server_seal("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: " + std::string(accept, sizeof accept) + "\r\n\r\n");
    ASSERT_TRUE(until([&] { return owner_.opened || owner_.closed; }));
    ASSERT_TRUE(owner_.opened) << owner_.closed->reason;
  }

  EventLoop loop_;
  SystemClock clock_;
  Owner owner_;
  Url url_;
  std::unique_ptr<WsConnection> conn_;
  std::shared_ptr<tls::ServerContexts> contexts_;
  std::unique_ptr<tls::Session> server_;
  Plain plain_;
  int fd_ = -1;
};

TEST_F(TlsTransportTest, MessagesOverSeveralRecordsBothWaysAndCloseNotify) {
  open("localhost", true, "");
  accept_upgrade();
  // Three messages in one burst, one of them 100 kB: several records, decrypted by the client
  // in one read of the socket and handed out without another readiness event.
  std::string big(100000, 'x');
  ByteBuffer frames;
  for (std::string_view m : {std::string_view("one"), std::string_view(big), std::string_view("two")})
    ASSERT_TRUE(ws::write_frame(frames, ws::Opcode::kText, {reinterpret_cast<const uint8_t*>(m.data()), m.size()}));
  server_seal({reinterpret_cast<const char*>(frames.data()), frames.size()});
  ASSERT_TRUE(until([&] { return owner_.texts.size() == 3; }));
  EXPECT_EQ(owner_.texts, (std::vector<std::string>{"one", big, "two"}));

  ASSERT_TRUE(conn_->send_text(big));
  Heard h;
  ws::MessageReader reader;
  ASSERT_TRUE(until([&] {
    reader.feed({reinterpret_cast<const uint8_t*>(plain_.bytes.data()), plain_.bytes.size()}, h);
    plain_.bytes.clear();
    return !h.texts.empty();
  }));
  EXPECT_EQ(h.texts[0], big);

  // Dropping the connection sends close_notify: the server sees the end of the TLS stream.
  conn_->abort("test");
  conn_.reset();
  io::Transport::In in = io::Transport::In::kOk;
  for (int i = 0; i < 100 && in == io::Transport::In::kOk; ++i) in = pump();
  EXPECT_EQ(in, io::Transport::In::kPeerClosed);
}

TEST_F(TlsTransportTest, VerifiesTheCertificateAgainstTheCaFile) {
  open("localhost", false, pki().cert);  // self-signed: the certificate is its own CA
  accept_upgrade();
  EXPECT_FALSE(owner_.closed);
}

TEST_F(TlsTransportTest, RefusesACertificateForAnotherName) {
  open("other.test", false, pki().cert);
  ASSERT_TRUE(until([&] { return owner_.closed.has_value(); }));
  EXPECT_TRUE(owner_.closed->certificate_refused);
  EXPECT_FALSE(owner_.closed->opened);
  EXPECT_NE(owner_.closed->reason.find("the certificate of other.test was refused"),
            std::string::npos) << owner_.closed->reason;
}

TEST_F(TlsTransportTest, RefusesAnUntrustedCertificate) {
  open("localhost", false, "");  // the system's store does not know this certificate
  ASSERT_TRUE(until([&] { return owner_.closed.has_value(); }));
  EXPECT_TRUE(owner_.closed->certificate_refused) << owner_.closed->reason;
}

}  // namespace
}  // namespace ringway::client
