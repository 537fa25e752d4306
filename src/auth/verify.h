#pragma once
// The device proof and service-token check, as one pure function (no I/O, no clocks read):
// verifier threads call it, tests feed it directly.
#include <string_view>

#include "auth/credentials.h"

namespace ringway::auth {

class DeviceRegistry;
class ServiceTokens;

// Checks, in order: the nonce is this connection's challenge (NONCE_MISMATCH); signedAt within
// kMaxClockSkewMs of now (SIGNATURE_EXPIRED); the id is the SHA-256 of the key
// (DEVICE_ID_MISMATCH); the key is registered (DEVICE_UNKNOWN); the Ed25519 signature over the
// connect payload (SIGNATURE_INVALID). Services: the token is known (TOKEN_INVALID). Granted
// scopes are the requested ones the registry entry allows.
Verdict verify_credentials(const Credentials& c, std::string_view challenge_nonce,
                           uint64_t now_epoch_ms, const DeviceRegistry* devices,
                           const ServiceTokens* services);

}  // namespace ringway::auth
