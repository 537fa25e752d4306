#pragma once
// The device registry: which public keys may connect, and the scopes each may be granted.
//
// File format, one device per line:  <base64url raw public key>[ <scope>,<scope>...]
// '#' starts a comment at the start of a line or after whitespace; blank lines are ignored.
// A registry is immutable once loaded; a reload builds a new one and swaps the shared_ptr, so
// readers on other threads keep a consistent snapshot for as long as they hold it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/keys.h"

namespace ringway::auth {

inline constexpr size_t kMaxRegistryLineBytes = 4096;
inline constexpr size_t kMaxRegistryFileBytes = size_t{1} << 30;  // 1 GiB: ~14M devices
// Every device line holds at least a key, so entry indices always fit the table's uint32_t.
static_assert(kMaxRegistryFileBytes / (kPublicKeyChars + 1) < UINT32_MAX);

class DeviceRegistry;

struct DeviceEntry {
  DeviceId device_id;  // SHA-256 of public_key
  PublicKey public_key;
  // Allowed scopes, sorted and without duplicates. Valid while the registry lives.
  std::span<const std::string> scopes() const { return *scopes_; }

 private:
  friend class DeviceRegistry;
  const std::vector<std::string>* scopes_ = nullptr;  // interned: devices share equal lists
};

class DeviceRegistry {
 public:
  struct LoadResult {
    std::shared_ptr<const DeviceRegistry> registry;  // null on error
    std::string error;                               // "name:line: reason" or a file error
  };

  static LoadResult load_file(const std::string& path);
  static LoadResult parse(std::string_view text, std::string_view name_for_errors);

  const DeviceEntry* find(const DeviceId& device_id) const;  // O(1); null if absent
  size_t size() const { return entries_.size(); }
  std::span<const DeviceEntry> entries() const { return entries_; }  // in file order
  // Ids present in `older` but not here: devices a reload removed.
  std::vector<DeviceId> removed_since(const DeviceRegistry& older) const;
  // Ids in `older` that are gone here or whose allowed scopes differ: the sessions a reload must
  // re-check (4001 revoked when the device went or its grant shrank).
  std::vector<DeviceId> changed_since(const DeviceRegistry& older) const;
  size_t distinct_scope_lists() const { return scope_lists_.size(); }
  size_t memory_bytes() const;  // approximate heap use, for the per-device budget

 private:
  DeviceRegistry() = default;
  void reserve(size_t devices);
  bool insert(const DeviceEntry& entry);  // false if the id is already present
  size_t slot_of(const DeviceId& id) const;

  std::vector<DeviceEntry> entries_;
  // Open addressing, linear probing; each slot holds entry index + 1 (0 = empty). Ids are
  // SHA-256 outputs, so their first bytes are already a uniform hash.
  std::vector<uint32_t> slots_;
  size_t mask_ = 0;
  std::deque<std::vector<std::string>> scope_lists_;  // deque: stable addresses while growing
};

}  // namespace ringway::auth
