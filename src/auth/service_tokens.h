#pragma once
// Backend service credentials. The file stores only SHA-256 digests of the tokens, so reading
// it does not reveal them:  <name> <lowercase hex SHA-256 of the token>[ <scope>,<scope>...]
// Comments and blank lines as in the device registry.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::auth {

inline constexpr size_t kMaxServiceTokensLineBytes = 4096;
inline constexpr size_t kMaxServiceTokensFileBytes = 1 << 20;
inline constexpr size_t kMaxServices = 1024;         // match() scans them all; keep it small
inline constexpr size_t kMaxServiceNameLength = 64;  // [A-Za-z0-9._-]; the "from" of messages
inline constexpr size_t kMaxTokenBytes = 4096;       // longer presented tokens never match

struct ServiceEntry {
  std::string name;
  std::vector<std::string> scopes;  // sorted, without duplicates
  std::array<uint8_t, 32> digest{};  // SHA-256 of the token
};

// Lowercase hex SHA-256 of a token: the second field of a line.
std::string token_digest_hex(std::string_view token);

class ServiceTokens {
 public:
  struct LoadResult {
    std::shared_ptr<const ServiceTokens> tokens;  // null on error
    std::string error;                            // "name:line: reason" or a file error
  };

  static LoadResult load_file(const std::string& path);
  static LoadResult parse(std::string_view text, std::string_view name_for_errors);

  // The service whose digest equals SHA-256(token), or null. Compares every entry with
  // CRYPTO_memcmp and no early exit, so timing does not depend on which entry (if any) matched.
  // Never logs the token.
  const ServiceEntry* match(std::string_view token) const;
  const ServiceEntry* find_by_name(std::string_view name) const;
  size_t size() const { return entries_.size(); }
  // Names in `older` that are gone here or whose token or scopes differ: the sessions a reload
  // must re-check (4001 revoked when their token went or their grant shrank).
  std::vector<std::string> changed_since(const ServiceTokens& older) const;

 private:
  ServiceTokens() = default;
  std::vector<ServiceEntry> entries_;
};

}  // namespace ringway::auth
