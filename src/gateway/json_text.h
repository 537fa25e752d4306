#pragma once
// The raw text of JSON values inside a document that a validating parser has already accepted.
// simdjson's DOM keeps no source positions, so where a value must be passed on exactly as
// written (a publish's data, a delivery's data) its text is found by walking the document's
// structure. Only structure is tracked; no value is interpreted, and on input that is not valid
// JSON the walk fails (npos, false, nullopt) rather than reading past the end. Iterative: nesting
// depth costs no stack. The gateway's request parser and the client library share it.
#include <cstddef>
#include <optional>
#include <string_view>

namespace ringway::gateway {

inline bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// The index of the first non-whitespace character at or after i.
size_t json_skip_space(std::string_view s, size_t i);
// s[i] is the opening quote; the index just past the closing one (npos if unterminated).
size_t json_skip_string(std::string_view s, size_t i);
// The index just past the value that starts at s[i] (npos on malformed input).
size_t json_skip_value(std::string_view s, size_t i);

// The text of the value of the `index`-th member of the top-level object in `s`.
bool member_text(std::string_view s, size_t index, std::string_view& out);
// The text of the value of member `key` (compared with the name as written, escapes and all);
// nullopt when absent or when `s` is not an object.
std::optional<std::string_view> member_text(std::string_view s, std::string_view key);

}  // namespace ringway::gateway
