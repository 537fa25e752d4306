#pragma once
// Ed25519 device keys (BoringSSL), device ids, nonces, and the `ringway keygen` key file.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringway::auth {

inline constexpr size_t kPublicKeyBytes = 32;
inline constexpr size_t kSeedBytes = 32;
inline constexpr size_t kSignatureBytes = 64;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kPrivateKeyBytes = 64;  // BoringSSL's expanded form: seed || public key
inline constexpr size_t kDeviceIdBytes = 32;    // SHA-256 of the public key
inline constexpr size_t kDeviceIdHexChars = 64;
inline constexpr size_t kPublicKeyChars = 43;   // base64url of 32 bytes
inline constexpr size_t kSignatureChars = 86;   // base64url of 64 bytes
inline constexpr size_t kNonceChars = 43;

using PublicKey = std::array<uint8_t, kPublicKeyBytes>;
using Signature = std::array<uint8_t, kSignatureBytes>;
using DeviceId = std::array<uint8_t, kDeviceIdBytes>;

struct KeyPair {
  std::array<uint8_t, kSeedBytes> seed;
  PublicKey public_key;
  std::array<uint8_t, kPrivateKeyBytes> private_key;
};

KeyPair keypair_from_seed(const std::array<uint8_t, kSeedBytes>& seed);
KeyPair generate_keypair();  // seed from BoringSSL's CSPRNG

Signature sign(const KeyPair& key, std::span<const uint8_t> msg);
bool verify(const PublicKey& key, std::span<const uint8_t> msg, const Signature& sig);

std::array<uint8_t, 32> device_id_bytes(const PublicKey& key);  // SHA-256 of the raw key
std::string device_id_hex(const PublicKey& key);                // lowercase hex of the above
// Exactly 64 lowercase hex digits; uppercase is rejected so an id has one spelling.
bool parse_device_id_hex(std::string_view hex, std::array<uint8_t, 32>& out);
std::string hex_lower(std::span<const uint8_t> bytes);

std::string random_nonce();  // kNonceBytes from the CSPRNG, base64url (kNonceChars)

// Key file: one line `ringway-ed25519-seed <base64url seed>\n`, mode 0600.
inline constexpr std::string_view kKeyFileTag = "ringway-ed25519-seed";
inline constexpr size_t kMaxKeyFileBytes = 256;  // a valid file is 65 bytes; refuse anything big

// Creates the file with O_CREAT|O_EXCL and mode 0600: never overwrites an existing key.
bool write_private_key_file(const std::string& path, const KeyPair& key, std::string& err);
// Refuses a file that group or others can access (any of mode 077), like ssh does.
bool read_private_key_file(const std::string& path, KeyPair& key, std::string& err);

// The device-registry line for a key: `<base64url public key>` plus ` <scope,scope>` if any.
std::string registry_line(const KeyPair& key, std::span<const std::string> scopes);

}  // namespace ringway::auth
