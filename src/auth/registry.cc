#include "auth/registry.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_map>

#include "auth/base64url.h"
#include "auth/scopes.h"
#include "auth/text_file.h"

namespace ringway::auth {
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using ScopeListMap =
    std::unordered_map<std::string, const std::vector<std::string>*, StringHash, std::equal_to<>>;

std::string line_error(std::string_view name, size_t line_no, std::string_view reason) {
  std::string e(name);
  e += ':';
  e += std::to_string(line_no);
  e += ": ";
  e += reason;
  return e;
}

uint64_t id_hash(const DeviceId& id) {
  uint64_t h;
  std::memcpy(&h, id.data(), sizeof h);
  return h;
}

}  // namespace

void DeviceRegistry::reserve(size_t devices) {
  entries_.reserve(devices);
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, devices * 2));  // load <= 1/2
  slots_.assign(capacity, 0);
  mask_ = capacity - 1;
  for (uint32_t i = 0; i < entries_.size(); ++i) slots_[slot_of(entries_[i].device_id)] = i + 1;
}

size_t DeviceRegistry::slot_of(const DeviceId& id) const {
  size_t s = id_hash(id) & mask_;
  while (slots_[s] != 0 && entries_[slots_[s] - 1].device_id != id) s = (s + 1) & mask_;
  return s;
}

bool DeviceRegistry::insert(const DeviceEntry& entry) {
  if ((entries_.size() + 1) * 2 > slots_.size()) reserve((entries_.size() + 1) * 2);
  const size_t s = slot_of(entry.device_id);
  if (slots_[s] != 0) return false;
  entries_.push_back(entry);
  slots_[s] = static_cast<uint32_t>(entries_.size());
  return true;
}

const DeviceEntry* DeviceRegistry::find(const DeviceId& device_id) const {
  if (slots_.empty()) return nullptr;
  const uint32_t v = slots_[slot_of(device_id)];
  return v == 0 ? nullptr : &entries_[v - 1];
}

std::vector<DeviceId> DeviceRegistry::removed_since(const DeviceRegistry& older) const {
  std::vector<DeviceId> removed;
  for (const DeviceEntry& e : older.entries_)
    if (find(e.device_id) == nullptr) removed.push_back(e.device_id);
  return removed;
}

std::vector<DeviceId> DeviceRegistry::changed_since(const DeviceRegistry& older) const {
  std::vector<DeviceId> changed;
  for (const DeviceEntry& e : older.entries_) {
    const DeviceEntry* now = find(e.device_id);
    if (!now) {
      changed.push_back(e.device_id);
      continue;
    }
    auto a = now->scopes(), b = e.scopes();
    if (!std::equal(a.begin(), a.end(), b.begin(), b.end())) changed.push_back(e.device_id);
  }
  return changed;
}

size_t DeviceRegistry::memory_bytes() const {
  size_t bytes = sizeof(*this) + entries_.capacity() * sizeof(DeviceEntry) +
                 slots_.capacity() * sizeof(uint32_t);
  for (const auto& list : scope_lists_) {
    bytes += sizeof(list) + list.capacity() * sizeof(std::string);
    for (const auto& s : list) bytes += s.capacity() > 15 ? s.capacity() + 1 : 0;  // past SSO
  }
  return bytes;
}

DeviceRegistry::LoadResult DeviceRegistry::load_file(const std::string& path) {
  std::string text;
  std::string err;
  if (!read_text_file(path, kMaxRegistryFileBytes, text, err)) return {nullptr, err};
  return parse(text, path);
}

DeviceRegistry::LoadResult DeviceRegistry::parse(std::string_view text,
                                                 std::string_view name_for_errors) {
  std::shared_ptr<DeviceRegistry> reg(new DeviceRegistry);
  reg->reserve(count_lines(text));  // an upper bound: comments and blanks only over-reserve
  reg->scope_lists_.emplace_back();  // the shared empty list

  // Most devices share a few scope lists, so a line's scope text is usually looked up as-is
  // (one hash, no allocation). New texts are validated, then canonicalised (sorted, deduped)
  // so that "a,b" and "b,a" share one list.
  ScopeListMap by_text;
  ScopeListMap by_canonical;
  std::vector<std::string> parsed;
  std::string reason;

  ConfigLines lines(text, kMaxRegistryLineBytes);
  ConfigLine line;
  while (lines.next(line)) {
    auto fail = [&](std::string_view why) {
      return LoadResult{nullptr, line_error(name_for_errors, line.line_no, why)};
    };
    if (line.too_long)
      return fail("line over " + std::to_string(kMaxRegistryLineBytes) + " bytes");

    const size_t space = line.content.find(' ');
    const std::string_view key_text = line.content.substr(0, space);
    const std::string_view scope_text =
        space == std::string_view::npos ? std::string_view{} : line.content.substr(space + 1);

    DeviceEntry entry;
    if (!base64url_decode(key_text, entry.public_key))
      return fail("bad key (expected base64url of a raw 32-byte Ed25519 public key)");

    if (scope_text.empty()) {
      entry.scopes_ = &reg->scope_lists_.front();
    } else if (auto it = by_text.find(scope_text); it != by_text.end()) {
      entry.scopes_ = it->second;
    } else {
      if (!parse_scope_list(scope_text, parsed, reason)) return fail(reason);
      std::sort(parsed.begin(), parsed.end());
      parsed.erase(std::unique(parsed.begin(), parsed.end()), parsed.end());
      std::string canonical;
      for (const auto& s : parsed) (canonical += s) += ',';
      auto [cit, added] = by_canonical.try_emplace(std::move(canonical), nullptr);
      if (added) cit->second = &reg->scope_lists_.emplace_back(std::move(parsed));
      entry.scopes_ = cit->second;
      by_text.emplace(std::string(scope_text), entry.scopes_);
    }

    entry.device_id = device_id_bytes(entry.public_key);
    if (!reg->insert(entry)) return fail("duplicate key");
  }
  return {std::move(reg), {}};
}

}  // namespace ringway::auth
