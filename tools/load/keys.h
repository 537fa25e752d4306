#pragma once
// Device identities for load runs: `ringway-load keys` writes N seeds and the matching registry,
// `--keys` reads them back. Also a connect-request builder that reuses each identity's expanded
// key pair: client::device_connect_request re-derives the key pair from the seed on every call
// (an extra Ed25519 scalar multiplication, as costly as the signature itself), which would make
// the load generator, not the gateway, the bottleneck of a connect benchmark. The output is
// byte-for-byte the library's (Ed25519 signatures are deterministic; a unit test holds it so).
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/keys.h"
#include "ringway/client.h"

namespace ringway::load {

// The client library's identity: seed, expanded signing key, device id, public key text.
using LoadIdentity = client::DeviceIdentity;

using Seed = std::array<uint8_t, 32>;

// Generates `count` identities and writes the keys file (one base64url seed per line, mode
// 0600) and the registry file (one registry line each, with `scopes`). Replaces existing files.
bool write_key_files(uint64_t count, std::span<const std::string> scopes,
                     const std::string& keys_path, const std::string& registry_path,
                     std::string& err);
// Reads a keys file: one base64url seed per line; blank lines and lines starting with '#' are
// skipped.
bool read_key_seeds(const std::string& path, std::vector<Seed>& out, std::string& err);
// Expands seeds into identities on `threads` threads.
std::vector<LoadIdentity> expand_identities(std::span<const Seed> seeds, unsigned threads);
LoadIdentity identity_from_seed(const Seed& seed);

client::ClientInfo load_client_info();

// The signed device connect request (PROTOCOL.md step 2), identical to
// client::device_connect_request(identity, nonce, scopes, signed_at_ms, request_id, info).
void append_connect_request(std::string& out, const LoadIdentity& id, std::string_view nonce,
                            std::span<const std::string> scopes, uint64_t signed_at_ms,
                            std::string_view request_id, const client::ClientInfo& info);

}  // namespace ringway::load
