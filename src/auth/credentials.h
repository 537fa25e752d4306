#pragma once
// What a connect request claims, in the form the verifier threads check it. The gateway fills
// it from the parsed request; it owns its strings because it crosses to another thread.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "auth/keys.h"

namespace ringway::auth {

enum class Role : uint8_t { kDevice, kService };

struct Credentials {
  Role role = Role::kDevice;
  std::vector<std::string> scopes;  // requested, in the order sent (they are signed that way)
  // role device
  std::string device_id;            // 64 lowercase hex, as sent
  PublicKey public_key{};
  Signature signature{};
  uint64_t signed_at_ms = 0;
  std::string nonce;                // as sent
  // role service
  std::string token;
};

// The result of checking credentials. code is nullptr on success, else a protocol error code
// ("DEVICE_UNKNOWN", "SIGNATURE_INVALID", ...).
struct Verdict {
  const char* code = nullptr;
  std::string message;
  std::vector<std::string> granted_scopes;
  std::array<uint8_t, 32> device_id{};  // devices
  std::string service_name;             // services
  std::array<uint8_t, 32> token_digest{};  // services
  uint64_t generation = 0;              // of the Identity it was checked against
  bool ok() const { return code == nullptr; }
};

}  // namespace ringway::auth
