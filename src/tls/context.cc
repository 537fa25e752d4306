#include "tls/context.h"

#include <openssl/aes.h>
#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <strings.h>

#include <cstring>
#include <ctime>

namespace ringway::tls {

namespace {

// TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only. TLS 1.3's suites are all AEAD and
// are not configurable in BoringSSL.
constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

int ex_index_tickets() {
  static int i = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}
int ex_index_contexts() {
  static int i = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}

int on_ticket_key(SSL* ssl, uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher,
                  HMAC_CTX* hmac, int encrypt) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index_tickets()));
  return keys ? keys->handle(key_name, iv, cipher, hmac, encrypt) : -1;
}

int on_alpn(SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len,
            void*) {
  // Only HTTP/1.1 is spoken; a client that offers only other protocols gets no ALPN answer.
  for (unsigned i = 0; i < in_len;) {
    unsigned len = in[i];
    if (i + 1 + len > in_len) break;
    if (len == 8 && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *out_len = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int on_server_name(SSL* ssl, int*, void*) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  auto* set = static_cast<const ServerContexts*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index_contexts()));
  if (!set) return SSL_TLSEXT_ERR_OK;
  if (SSL_CTX* ctx = set->for_name(name)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;  // an unknown name gets the default certificate
}

SSL_CTX* new_server_context(const CertFiles& f, std::string& err) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (!ctx) {
    err = "out of memory";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (!SSL_CTX_set_strict_cipher_list(ctx, kCipherList)) {
    err = "cipher list: " + last_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, f.cert.c_str()) != 1) {
    err = f.cert + ": " + last_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, f.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    err = f.key + ": " + last_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    err = f.key + ": does not match " + f.cert;
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
  // Stateless tickets only: no server-side session cache to grow or to share between workers.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_tlsext_ticket_key_cb(ctx, on_ticket_key);
  // Output is written whole into the connection's buffer, so partial writes are not needed.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
  return ctx;
}

}  // namespace

std::string last_error() {
  std::string out;
  while (uint32_t e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

bool parse_sni_option(const std::string& text, CertFiles& out, std::string& err) {
  size_t eq = text.find('='), comma = text.find(',', eq == std::string::npos ? 0 : eq);
  if (eq == std::string::npos || eq == 0 || comma == std::string::npos || comma == eq + 1 ||
      comma + 1 >= text.size()) {
    err = "expected NAME=CERT,KEY, got '" + text + "'";
    return false;
  }
  out.name = text.substr(0, eq);
  out.cert = text.substr(eq + 1, comma - eq - 1);
  out.key = text.substr(comma + 1);
  return true;
}

// ---- ticket keys ----

void TicketKeys::rotate_if_due(uint64_t now) {
  if (have_current_ && now - current_since_ms_ < rotation_ms_) return;
  if (have_current_) {
    // The current key becomes the previous one, unless it is already two periods old: then
    // every ticket it issued has outlived its welcome and both go.
    have_previous_ = now - current_since_ms_ < 2 * rotation_ms_;
    if (have_previous_) previous_ = current_;
    ++rotations_;
  }
  RAND_bytes(reinterpret_cast<uint8_t*>(&current_), sizeof current_);
  have_current_ = true;
  current_since_ms_ = now;
}

uint64_t TicketKeys::rotations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rotations_;
}

int TicketKeys::handle(uint8_t* key_name, uint8_t* iv, EVP_CIPHER_CTX* cipher, HMAC_CTX* hmac,
                       int encrypt) {
  std::lock_guard<std::mutex> lock(mu_);
  rotate_if_due(now_ms());
  if (encrypt) {
    std::memcpy(key_name, current_.name, 16);
    RAND_bytes(iv, 16);
    if (!EVP_EncryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, current_.aes, iv) ||
        !HMAC_Init_ex(hmac, current_.hmac, sizeof current_.hmac, EVP_sha256(), nullptr))
      return -1;
    return 1;
  }
  const Key* k = nullptr;
  int result = 1;
  if (std::memcmp(key_name, current_.name, 16) == 0) {
    k = &current_;
  } else if (have_previous_ && std::memcmp(key_name, previous_.name, 16) == 0) {
    k = &previous_;
    result = 2;  // still good, but issue a fresh ticket under the current key
  }
  if (!k) return 0;  // unknown or expired key: a full handshake
  if (!HMAC_Init_ex(hmac, k->hmac, sizeof k->hmac, EVP_sha256(), nullptr) ||
      !EVP_DecryptInit_ex(cipher, EVP_aes_128_cbc(), nullptr, k->aes, iv))
    return -1;
  return result;
}

// ---- server contexts ----

ServerContexts::~ServerContexts() {
  for (SSL_CTX* c : contexts_) SSL_CTX_free(c);
}

std::shared_ptr<ServerContexts> ServerContexts::load(const ServerOptions& opts,
                                                     std::shared_ptr<TicketKeys> tickets,
                                                     std::string& err) {
  std::shared_ptr<ServerContexts> set(new ServerContexts);
  set->tickets_ = std::move(tickets);
  std::vector<const CertFiles*> all = {&opts.main};
  for (const CertFiles& f : opts.sni) all.push_back(&f);
  for (const CertFiles* f : all) {
    SSL_CTX* ctx = new_server_context(*f, err);
    if (!ctx) return nullptr;
    SSL_CTX_set_ex_data(ctx, ex_index_tickets(), set->tickets_.get());
    SSL_CTX_set_ex_data(ctx, ex_index_contexts(), set.get());
    set->contexts_.push_back(ctx);
    set->names_.push_back(f->name);
  }
  SSL_CTX_set_tlsext_servername_callback(set->default_context(), on_server_name);
  return set;
}

SSL_CTX* ServerContexts::for_name(const char* name) const {
  for (size_t i = 1; i < contexts_.size(); ++i)
    if (strcasecmp(names_[i].c_str(), name) == 0) return contexts_[i];
  return nullptr;
}

SSL_CTX* make_client_context(bool insecure, const std::string& ca_file, std::string& err) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (!ctx) {
    err = "out of memory";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof kAlpnHttp11);
  if (insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                             : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    if (ok != 1) {
      err = (ca_file.empty() ? std::string("the system trust store") : ca_file) + ": " +
            last_error();
      SSL_CTX_free(ctx);
      return nullptr;
    }
  }
  return ctx;
}

// ---- client contexts ----

namespace {
int ex_index_client() {
  static int i = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return i;
}
}  // namespace

ClientContext::~ClientContext() {
  if (session_) SSL_SESSION_free(session_);
  if (ctx_) SSL_CTX_free(ctx_);
}

std::shared_ptr<ClientContext> ClientContext::make(bool insecure, const std::string& ca_file,
                                                   bool resume, std::string& err) {
  std::shared_ptr<ClientContext> c(new ClientContext);
  c->ctx_ = make_client_context(insecure, ca_file, err);
  if (!c->ctx_) return nullptr;
  c->insecure_ = insecure;
  SSL_CTX_set_mode(c->ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE);
  if (resume) {
    // No internal cache: the new-session callback keeps the newest one here.
    SSL_CTX_set_session_cache_mode(c->ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_set_ex_data(c->ctx_, ex_index_client(), c.get());
    SSL_CTX_sess_set_new_cb(c->ctx_, on_new_session);
  }
  return c;
}

int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* c = static_cast<ClientContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index_client()));
  if (!c) return 0;
  std::lock_guard<std::mutex> lock(c->mu_);
  if (c->session_) SSL_SESSION_free(c->session_);
  c->session_ = session;
  return 1;  // the reference is ours now
}

SSL_SESSION* ClientContext::session() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_) SSL_SESSION_up_ref(session_);
  return session_;
}

void prepare_client(SSL* ssl, const ClientContext& ctx, const std::string& host) {
  bool ip = is_ip_literal(host);
  if (!ip && !host.empty()) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (!ctx.insecure()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ip) X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    else X509_VERIFY_PARAM_set1_host(param, host.data(), host.size());
  }
  if (SSL_SESSION* resume = ctx.session()) {
    SSL_set_session(ssl, resume);  // takes its own reference
    SSL_SESSION_free(resume);
  }
}

std::string certificate_error(const SSL* ssl, const std::string& error) {
  if (!ssl || error.find("CERTIFICATE_VERIFY_FAILED") == std::string::npos) return "";
  long v = SSL_get_verify_result(ssl);
  return v == X509_V_OK ? "certificate verify failed" : X509_verify_cert_error_string(v);
}

bool is_ip_literal(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

}  // namespace ringway::tls
