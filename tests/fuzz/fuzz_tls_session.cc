// Fuzzes the TLS-to-WebSocket path: arbitrary bytes into a server tls::Session before any
// handshake (what a client that is not TLS, or a broken one, sends), and arbitrary plaintext
// sealed by a client Session over a handshake done in memory, opened by the server Session and
// fed to the WebSocket frame reader, in pieces whose sizes the input chooses. Beyond "no crash,
// no leak, no UB": a failed session stays failed and nothing is delivered after a failure.
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tls/context.h"
#include "tls/session.h"
#include "ws/message_reader.h"

using namespace ringway;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// A self-signed P-256 certificate written to temporary files once.
std::shared_ptr<tls::ServerContexts> server_contexts() {
  static std::shared_ptr<tls::ServerContexts> set = [] {
    EVP_PKEY* pkey = EVP_PKEY_new();
    EC_KEY* ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    EC_KEY_generate_key(ec);
    EVP_PKEY_assign_EC_KEY(pkey, ec);
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600 * 24);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const uint8_t*>("fuzz"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, pkey);
    X509_sign(x, pkey, EVP_sha256());
    char cert_path[] = "/tmp/fuzz-tls-cert-XXXXXX", key_path[] = "/tmp/fuzz-tls-key-XXXXXX";
    int cf = mkstemp(cert_path), kf = mkstemp(key_path);
    FILE* c = fdopen(cf, "w");
    FILE* k = fdopen(kf, "w");
    PEM_write_X509(c, x);
    PEM_write_PrivateKey(k, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(c);
    fclose(k);
    X509_free(x);
    EVP_PKEY_free(pkey);
    tls::ServerOptions o;
    o.main = {"", cert_path, key_path};
    std::string err;
    auto s = tls::ServerContexts::load(o, std::make_shared<tls::TicketKeys>(3600000), err);
    unlink(cert_path);
    unlink(key_path);
    check(s != nullptr);
    return s;
  }();
  return set;
}

SSL_CTX* client_context() {
  static SSL_CTX* ctx = [] {
    std::string err;
    SSL_CTX* c = tls::make_client_context(true, "", err);
    check(c != nullptr);
    return c;
  }();
  return ctx;
}

struct Collect final : io::PlaintextSink {
  void plaintext(std::span<const uint8_t> b) override { bytes.append(b.begin(), b.end()); }
  std::string bytes;
};

struct NullSink final : ws::MessageSink {
  void on_message(ws::Opcode, std::span<const uint8_t>) override {}
  void on_ping(std::span<const uint8_t>) override {}
  void on_pong(std::span<const uint8_t>) override {}
  void on_close(uint16_t, std::span<const uint8_t>) override {}
};

// Moves output from one session to the other until neither has any; false if one failed.
bool pump(tls::Session& a, tls::Session& b, Collect& at_a, Collect& at_b) {
  for (int round = 0; round < 16; ++round) {
    bool moved = false;
    for (auto [from, to, sink] : {std::tuple{&a, &b, &at_b}, std::tuple{&b, &a, &at_a}}) {
      auto out = from->output();
      if (out.empty()) continue;
      std::string copy(out.begin(), out.end());
      from->consumed(out.size());
      if (to->on_recv({reinterpret_cast<const uint8_t*>(copy.data()), copy.size()}, *sink) ==
          io::Transport::In::kFailed)
        return false;
      moved = true;
    }
    if (!moved) return true;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto contexts = server_contexts();
  std::span<const uint8_t> rest(data + 1, size - 1);
  if (data[0] & 1) {
    // Garbage (or a damaged handshake) straight into a server session.
    tls::Session server(contexts);
    Collect got;
    size_t step = 1 + data[0] / 2;
    while (!rest.empty()) {
      size_t n = std::min(step, rest.size());
      io::Transport::In r = server.on_recv(rest.first(n), got);
      rest = rest.subspan(n);
      if (r == io::Transport::In::kFailed) {
        // A failed session gives nothing more, whatever follows.
        Collect after;
        server.on_recv(rest, after);
        check(after.bytes.empty());
        break;
      }
    }
    return 0;
  }
  // A real handshake in memory, then the input as plaintext through both sessions.
  tls::Session server(contexts);
  tls::Session client(client_context(), "fuzz", false);
  check(server.ok() && client.ok() && client.start_handshake());
  Collect at_client, at_server;
  check(pump(client, server, at_client, at_server));
  check(client.ready() && server.ready());
  ws::MessageReader reader(1 << 20);
  NullSink sink;
  size_t step = 1 + data[0] * 64;
  while (!rest.empty()) {
    size_t n = std::min(step, rest.size());
    check(client.seal(rest.first(n)));
    rest = rest.subspan(n);
    check(pump(client, server, at_client, at_server));
  }
  check(at_server.bytes == std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  reader.feed({reinterpret_cast<const uint8_t*>(at_server.bytes.data()), at_server.bytes.size()},
              sink);
  client.seal_close();
  Collect after;
  auto out = client.output();
  std::string close(out.begin(), out.end());
  client.consumed(out.size());
  check(server.on_recv({reinterpret_cast<const uint8_t*>(close.data()), close.size()}, after) ==
        io::Transport::In::kPeerClosed);
  return 0;
}
