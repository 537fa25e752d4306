#include "auth/service_tokens.h"

#include <openssl/mem.h>
#include <openssl/sha.h>

#include <algorithm>

#include "auth/keys.h"
#include "auth/scopes.h"
#include "auth/text_file.h"

namespace ringway::auth {
namespace {

bool valid_service_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxServiceNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

std::array<uint8_t, 32> digest_of(std::string_view token) {
  std::array<uint8_t, 32> d;
  SHA256(reinterpret_cast<const uint8_t*>(token.data()), token.size(), d.data());
  return d;
}

}  // namespace

std::string token_digest_hex(std::string_view token) { return hex_lower(digest_of(token)); }

ServiceTokens::LoadResult ServiceTokens::load_file(const std::string& path) {
  std::string text;
  std::string err;
  if (!read_text_file(path, kMaxServiceTokensFileBytes, text, err)) return {nullptr, err};
  return parse(text, path);
}

ServiceTokens::LoadResult ServiceTokens::parse(std::string_view text,
                                               std::string_view name_for_errors) {
  std::shared_ptr<ServiceTokens> tokens(new ServiceTokens);
  std::string reason;
  ConfigLines lines(text, kMaxServiceTokensLineBytes);
  ConfigLine line;
  while (lines.next(line)) {
    auto fail = [&](std::string_view why) {
      return LoadResult{nullptr, std::string(name_for_errors) + ":" +
                                     std::to_string(line.line_no) + ": " + std::string(why)};
    };
    if (line.too_long)
      return fail("line over " + std::to_string(kMaxServiceTokensLineBytes) + " bytes");

    const std::string_view c = line.content;
    const size_t sp1 = c.find(' ');
    if (sp1 == std::string_view::npos) return fail("expected '<name> <sha256 hex> [scopes]'");
    const size_t sp2 = c.find(' ', sp1 + 1);
    const std::string_view name = c.substr(0, sp1);
    const std::string_view hex = c.substr(sp1 + 1, sp2 == std::string_view::npos
                                                       ? std::string_view::npos
                                                       : sp2 - sp1 - 1);
    const std::string_view scope_text =
        sp2 == std::string_view::npos ? std::string_view{} : c.substr(sp2 + 1);

    if (!valid_service_name(name))
      return fail("bad service name (1-64 of [A-Za-z0-9._-])");
    ServiceEntry s;
    if (!parse_device_id_hex(hex, s.digest))  // same shape: 64 lowercase hex digits
      return fail("bad token digest (expected 64 lowercase hex digits of SHA-256)");
    if (!parse_scope_list(scope_text, s.scopes, reason)) return fail(reason);
    std::sort(s.scopes.begin(), s.scopes.end());
    s.scopes.erase(std::unique(s.scopes.begin(), s.scopes.end()), s.scopes.end());
    s.name = std::string(name);

    for (const ServiceEntry& other : tokens->entries_) {
      if (other.name == s.name) return fail("duplicate service name");
      // Two names for one token would make match() ambiguous.
      if (other.digest == s.digest) return fail("duplicate token digest");
    }
    if (tokens->entries_.size() == kMaxServices)
      return fail("too many services (max " + std::to_string(kMaxServices) + ")");
    tokens->entries_.push_back(std::move(s));
  }
  return {std::move(tokens), {}};
}

const ServiceEntry* ServiceTokens::match(std::string_view token) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return nullptr;
  const std::array<uint8_t, 32> d = digest_of(token);
  const ServiceEntry* found = nullptr;
  for (const ServiceEntry& s : entries_) {
    if (CRYPTO_memcmp(s.digest.data(), d.data(), d.size()) == 0) found = &s;
  }
  return found;
}

const ServiceEntry* ServiceTokens::find_by_name(std::string_view name) const {
  for (const ServiceEntry& s : entries_)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> ServiceTokens::changed_since(const ServiceTokens& older) const {
  std::vector<std::string> changed;
  for (const ServiceEntry& e : older.entries_) {
    const ServiceEntry* now = find_by_name(e.name);
    if (!now || now->digest != e.digest || now->scopes != e.scopes) changed.push_back(e.name);
  }
  return changed;
}

}  // namespace ringway::auth
