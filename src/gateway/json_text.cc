#include "gateway/json_text.h"

namespace ringway::gateway {

namespace {

constexpr size_t npos = std::string_view::npos;

// Walks the members of the top-level object in order: at(m, name, value) for each until it
// returns true (then true), or false at the end or on malformed input.
template <class At>
bool walk_members(std::string_view s, At at) {
  size_t i = json_skip_space(s, 0);
  if (i >= s.size() || s[i] != '{') return false;
  i = json_skip_space(s, i + 1);
  if (i < s.size() && s[i] == '}') return false;
  for (size_t m = 0;; ++m) {
    if (i >= s.size() || s[i] != '"') return false;
    size_t end = json_skip_string(s, i);
    if (end == npos) return false;
    std::string_view name = s.substr(i + 1, end - i - 2);
    i = json_skip_space(s, end);
    if (i >= s.size() || s[i] != ':') return false;
    i = json_skip_space(s, i + 1);
    size_t vend = json_skip_value(s, i);
    if (vend == npos) return false;
    if (at(m, name, s.substr(i, vend - i))) return true;
    i = json_skip_space(s, vend);
    if (i >= s.size() || s[i] != ',') return false;
    i = json_skip_space(s, i + 1);
  }
}

}  // namespace

size_t json_skip_space(std::string_view s, size_t i) {
  while (i < s.size() && is_json_space(s[i])) ++i;
  return i;
}

size_t json_skip_string(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;  // the escaped character cannot end the string
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return npos;
}

size_t json_skip_value(std::string_view s, size_t i) {
  if (i >= s.size()) return npos;
  if (s[i] == '"') return json_skip_string(s, i);
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && !is_json_space(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']') ++i;
    return i;
  }
  size_t depth = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '"') {
      i = json_skip_string(s, i);
      if (i == npos) return i;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
    ++i;
  }
  return npos;
}

bool member_text(std::string_view s, size_t index, std::string_view& out) {
  return walk_members(s, [&](size_t m, std::string_view, std::string_view value) {
    if (m != index) return false;
    out = value;
    return true;
  });
}

std::optional<std::string_view> member_text(std::string_view s, std::string_view key) {
  std::optional<std::string_view> found;
  walk_members(s, [&](size_t, std::string_view name, std::string_view value) {
    if (name != key) return false;
    found = value;
    return true;
  });
  return found;
}

}  // namespace ringway::gateway
