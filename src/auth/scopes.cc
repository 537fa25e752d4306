#include "auth/scopes.h"

#include <algorithm>

namespace ringway::auth {
namespace {

bool channel_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

bool valid_verb(std::string_view v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

bool valid_pattern(std::string_view p) {
  if (!p.empty() && p.back() == '*') {
    const std::string_view prefix = p.substr(0, p.size() - 1);
    return prefix.size() <= kMaxChannelLength &&
           std::all_of(prefix.begin(), prefix.end(), channel_char);
  }
  return valid_channel(p);
}

struct SplitScope {
  std::string_view verb;
  std::string_view pattern;  // empty for a bare word
  bool bare;
};

SplitScope split(std::string_view scope) {
  const size_t colon = scope.find(':');
  if (colon == std::string_view::npos) return {scope, {}, true};
  return {scope.substr(0, colon), scope.substr(colon + 1), false};
}

// File text quoted in an error message, with control bytes made harmless for logs.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

}  // namespace

bool valid_channel(std::string_view channel) {
  return !channel.empty() && channel.size() <= kMaxChannelLength &&
         std::all_of(channel.begin(), channel.end(), channel_char);
}

bool valid_scope(std::string_view scope) {
  if (scope.empty() || scope.size() > kMaxScopeLength) return false;
  const SplitScope s = split(scope);
  return valid_verb(s.verb) && (s.bare || valid_pattern(s.pattern));
}

bool pattern_covers(std::string_view allowed_pattern, std::string_view requested_pattern) {
  if (allowed_pattern == requested_pattern) return true;
  if (allowed_pattern.empty() || allowed_pattern.back() != '*') return false;
  return requested_pattern.starts_with(allowed_pattern.substr(0, allowed_pattern.size() - 1));
}

std::vector<std::string> grant_scopes(std::span<const std::string> requested,
                                      std::span<const std::string> allowed) {
  std::vector<std::string> granted;
  for (const std::string& want : requested) {
    if (!valid_scope(want)) continue;
    if (std::find(granted.begin(), granted.end(), want) != granted.end()) continue;
    const SplitScope w = split(want);
    const bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const std::string& have) {
      const SplitScope h = split(have);
      if (h.bare != w.bare || h.verb != w.verb) return false;
      return w.bare || pattern_covers(h.pattern, w.pattern);
    });
    if (ok) granted.push_back(want);
  }
  return granted;
}

bool scopes_allow(std::span<const std::string> granted, std::string_view verb,
                  std::string_view channel) {
  return std::any_of(granted.begin(), granted.end(), [&](const std::string& have) {
    const SplitScope h = split(have);
    if (h.verb != verb) return false;
    if (channel.empty()) return h.bare;
    return !h.bare && pattern_covers(h.pattern, channel);
  });
}

bool parse_scope_list(std::string_view csv, std::vector<std::string>& out, std::string& reason) {
  out.clear();
  if (csv.empty()) return true;
  size_t start = 0;
  while (true) {
    const size_t comma = csv.find(',', start);
    const std::string_view item =
        csv.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (!valid_scope(item)) {
      // Quote at most a scope's worth so a garbage line does not flood the log.
      reason = "bad scope '" + printable(item.substr(0, kMaxScopeLength)) + "'";
      return false;
    }
    if (out.size() == kMaxScopes) {
      reason = "too many scopes (max " + std::to_string(kMaxScopes) + ")";
      return false;
    }
    out.emplace_back(item);
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

}  // namespace ringway::auth
