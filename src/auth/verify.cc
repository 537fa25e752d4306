#include "auth/verify.h"

#include <openssl/mem.h>

#include "auth/identity.h"
#include "auth/registry.h"
#include "auth/scopes.h"
#include "auth/service_tokens.h"
#include "auth/signature_payload.h"

namespace ringway::auth {

namespace {
Verdict fail(const char* code, std::string message) {
  Verdict v;
  v.code = code;
  v.message = std::move(message);
  return v;
}
}  // namespace

Verdict verify_credentials(const Credentials& c, std::string_view challenge_nonce,
                           uint64_t now_epoch_ms, const DeviceRegistry* devices,
                           const ServiceTokens* services) {
  if (c.role == Role::kService) {
    const ServiceEntry* entry = services ? services->match(c.token) : nullptr;
    if (!entry) return fail("TOKEN_INVALID", "service token missing or wrong");
    Verdict v;
    v.service_name = entry->name;
    v.token_digest = entry->digest;
    v.granted_scopes = grant_scopes(c.scopes, entry->scopes);
    return v;
  }
  // The cheap checks first: a replayed or stale proof costs no signature verification.
  if (c.nonce.size() != challenge_nonce.size() ||
      CRYPTO_memcmp(c.nonce.data(), challenge_nonce.data(), c.nonce.size()) != 0)
    return fail("NONCE_MISMATCH", "nonce is not this connection's challenge");
  if (!signed_at_fresh(c.signed_at_ms, now_epoch_ms))
    return fail("SIGNATURE_EXPIRED", "signedAt is outside the allowed clock skew");
  std::array<uint8_t, 32> claimed{};
  if (!parse_device_id_hex(c.device_id, claimed) || claimed != device_id_bytes(c.public_key))
    return fail("DEVICE_ID_MISMATCH", "device id is not the SHA-256 of the public key");
  const DeviceEntry* entry = devices ? devices->find(claimed) : nullptr;
  if (!entry || entry->public_key != c.public_key)
    return fail("DEVICE_UNKNOWN", "public key is not registered");
  std::string payload = signature_payload(c.device_id, "device", c.scopes, c.signed_at_ms, c.nonce);
  if (!verify(c.public_key, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()},
              c.signature))
    return fail("SIGNATURE_INVALID", "Ed25519 signature does not verify");
  Verdict v;
  v.device_id = claimed;
  auto allowed = entry->scopes();
  v.granted_scopes = grant_scopes(c.scopes, {allowed.data(), allowed.size()});
  return v;
}

}  // namespace ringway::auth

namespace ringway::auth {

bool recheck(const Identity& id, const Principal& who, std::span<const std::string> granted,
             std::vector<std::string>& grants) {
  if (who.is_device) {
    const DeviceEntry* e = id.devices ? id.devices->find(who.device_id) : nullptr;
    if (!e) return false;
    auto allowed = e->scopes();
    grants = grant_scopes(granted, {allowed.data(), allowed.size()});
    return true;
  }
  const ServiceEntry* e = id.tokens ? id.tokens->find_by_name(who.service_name) : nullptr;
  if (!e || e->digest != who.token_digest) return false;
  grants = grant_scopes(granted, e->scopes);
  return true;
}

}  // namespace ringway::auth
