#pragma once
// TLS configuration as BoringSSL contexts: the server's certificates (a default one and more
// chosen by SNI), TLS 1.2 and 1.3 only with forward-secret AEAD suites (no RSA key exchange,
// no CBC), ALPN http/1.1, and stateless session tickets whose keys rotate; and a client
// context (verifying, or --insecure for tests). A context set is immutable once loaded: a
// reload builds a new one, and connections already open keep the one they started with.
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ringway::tls {

struct CertFiles {
  std::string name;  // the SNI name it serves ("" for the default)
  std::string cert, key;
};

struct ServerOptions {
  CertFiles main;               // the default certificate
  std::vector<CertFiles> sni;   // more, chosen by the client's server_name
  uint64_t ticket_rotation_ms = 12 * 3600 * 1000;  // a ticket key encrypts for this long
};

// Parses "NAME=CERT,KEY" (the --tls-sni form). False with a reason.
bool parse_sni_option(const std::string& text, CertFiles& out, std::string& err);

// Session-ticket keys: one encrypts new tickets for `rotation_ms`, then becomes the previous
// key, which still decrypts (and the ticket is renewed under the new key) for one more period.
// Shared by every context of a process, across reloads, so a ticket resumes on any SNI context
// and after a certificate reload. Touched only during handshakes; a mutex is cheap enough.
class TicketKeys {
 public:
  explicit TicketKeys(uint64_t rotation_ms) : rotation_ms_(rotation_ms) {}
  // The SSL_CTX_set_tlsext_ticket_key_cb protocol; see context.cc.
  int handle(uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher, HMAC_CTX* hmac, int encrypt);
  uint64_t rotations() const;

 private:
  struct Key {
    uint8_t name[16], aes[16], hmac[32];
  };
  void rotate_if_due(uint64_t now_ms);
  uint64_t rotation_ms_;
  mutable std::mutex mu_;
  Key current_{}, previous_{};
  bool have_current_ = false, have_previous_ = false;
  uint64_t current_since_ms_ = 0, rotations_ = 0;
};

class ServerContexts {
 public:
  ~ServerContexts();
  ServerContexts(const ServerContexts&) = delete;
  ServerContexts& operator=(const ServerContexts&) = delete;

  // Loads every certificate and key (and checks each pair). Null with the reason on error.
  static std::shared_ptr<ServerContexts> load(const ServerOptions& opts,
                                              std::shared_ptr<TicketKeys> tickets,
                                              std::string& err);
  SSL_CTX* default_context() const { return contexts_.front(); }
  // The context for an SNI name (exact, case-insensitive), or null.
  SSL_CTX* for_name(const char* name) const;

 private:
  ServerContexts() = default;
  std::vector<SSL_CTX*> contexts_;  // [0] the default
  std::vector<std::string> names_;  // names_[i] for contexts_[i]; names_[0] unused
  std::shared_ptr<TicketKeys> tickets_;
};

// A client context: verifies the server's chain against `ca_file` (or the system's trust
// store when empty) unless insecure; offers ALPN http/1.1. Null with the reason on error.
SSL_CTX* make_client_context(bool insecure, const std::string& ca_file, std::string& err);

// A client context for a series of connections to one server (a client's reconnects, a load
// generator's connections), which keeps the newest session the server issued so the next
// connection can resume it: one slot, not a cache, since every connection goes to the same place.
class ClientContext {
 public:
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // Null with the reason on error (a CA file that does not load).
  static std::shared_ptr<ClientContext> make(bool insecure, const std::string& ca_file,
                                             bool resume, std::string& err);
  SSL_CTX* get() const { return ctx_; }
  bool insecure() const { return insecure_; }
  // The newest resumable session with a reference for the caller, or null (never, or !resume).
  SSL_SESSION* session() const;

 private:
  ClientContext() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  SSL_CTX* ctx_ = nullptr;
  bool insecure_ = false;
  mutable std::mutex mu_;  // sessions arrive during handshakes, which may be on several threads
  SSL_SESSION* session_ = nullptr;
};

// Sets up a client SSL for `host` on ctx: SNI unless host is an IP literal, the name or address
// checked in the certificate unless ctx is insecure, and ctx's newest session offered.
void prepare_client(SSL* ssl, const ClientContext& ctx, const std::string& host);

// When a handshake failed with `error` (last_error()'s text) because the certificate check
// refused the server's certificate: the verifier's reason. "" for any other failure.
std::string certificate_error(const SSL* ssl, const std::string& error);

// Whether a host is an IP literal (IPv4, or IPv6 without brackets): no SNI, and the certificate
// is checked for the address instead of a name.
bool is_ip_literal(const std::string& host);

// BoringSSL's error queue as one line (and cleared).
std::string last_error();

}  // namespace ringway::tls
