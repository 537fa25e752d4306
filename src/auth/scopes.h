#pragma once
// Scope syntax and the rules that grant and check them.
//
//   scope   = verb | verb ":" pattern           e.g. "send", "subscribe:chat.*"
//   verb    = [a-z]+
//   pattern = channel | [A-Za-z0-9._:-]{0,128} "*"   ('*' only last; "*" alone covers all)
//   channel = [A-Za-z0-9._:-]{1,128}
//   whole scope at most kMaxScopeLength bytes
//
// This is the same grammar the gateway's connect parser applies to requested scopes, so a
// scope a client may request is one a registry line may hold.
// The verb ends at the first ':' (verbs have none; channels may), so "publish:device:ab" is
// verb "publish", pattern "device:ab". No scope can contain ',' or '\n', which the
// signature payload relies on.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::auth {

inline constexpr size_t kMaxScopes = 32;         // per connect request, registry or token line
inline constexpr size_t kMaxChannelLength = 128;
inline constexpr size_t kMaxScopeLength = 140;

bool valid_channel(std::string_view channel);
bool valid_scope(std::string_view scope);

// True if every channel `requested_pattern` can match is matched by `allowed_pattern`: equal, or
// allowed ends in '*' and requested starts with allowed's prefix. So "chat.*" covers
// "chat.room1" and "chat.x*" but not "chat"; "*" covers everything. Inputs must be valid patterns.
bool pattern_covers(std::string_view allowed_pattern, std::string_view requested_pattern);

// requested ∩ allowed: each valid requested scope, in request order and once, that some allowed
// scope with the same verb covers (bare words: equal). Invalid requested scopes are dropped.
std::vector<std::string> grant_scopes(std::span<const std::string> requested,
                                      std::span<const std::string> allowed);

// Whether `granted` permits `verb` on `channel`; an empty channel asks for the bare word `verb`
// (e.g. scopes_allow(g, "send", "")).
bool scopes_allow(std::span<const std::string> granted, std::string_view verb,
                  std::string_view channel);

// Splits a comma-separated list (registry and token files). Empty text is an empty list. On
// failure returns false and sets `reason` ("bad scope '...'" or "too many scopes (max 32)").
bool parse_scope_list(std::string_view csv, std::vector<std::string>& out, std::string& reason);

}  // namespace ringway::auth
