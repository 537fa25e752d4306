#pragma once
// One consistent view of who may connect: the device registry and the service tokens, loaded
// together and numbered. A reload builds a new Identity and swaps it in whole; a verdict names
// the generation it was computed against, so the worker applying it can tell whether a reload
// happened in between and re-check the session against the newer one.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/keys.h"
#include "auth/registry.h"
#include "auth/service_tokens.h"

namespace ringway::auth {

struct Identity {
  std::shared_ptr<const DeviceRegistry> devices;
  std::shared_ptr<const ServiceTokens> tokens;
  uint64_t generation = 0;
};

// Who a session is, as the index of live sessions and a re-check need it.
struct Principal {
  bool is_device = true;
  DeviceId device_id{};                  // devices
  std::string service_name;              // services
  std::array<uint8_t, 32> token_digest{};  // services: the token it presented
};

// Re-checks a session against `id`: false when its device or token is gone (for a token: the
// name's digest changed too); otherwise `grants` becomes the part of `granted` that is still
// allowed (it never grows: scopes the client did not get at connect are not added).
bool recheck(const Identity& id, const Principal& who, std::span<const std::string> granted,
             std::vector<std::string>& grants);

}  // namespace ringway::auth
