#pragma once
// Shared plumbing for the line-oriented auth files (device registry, service tokens): read the
// whole file at once and walk its meaningful lines.
#include <cstddef>
#include <string>
#include <string_view>

namespace ringway::auth {

// Reads a regular file whole (fstat for the size, then one read in practice). Fails with a
// message naming the path if it cannot be read or is larger than max_bytes.
bool read_text_file(const std::string& path, size_t max_bytes, std::string& out, std::string& err);

// Yields lines with comments and surrounding whitespace removed, skipping lines left empty.
// A comment starts at '#' at the start of a line or after a space or tab, so "a#b" stays intact
// (and is then rejected by the caller's syntax check rather than silently truncated).
struct ConfigLine {
  std::string_view content;  // trimmed, comment removed; empty only when too_long
  size_t line_no = 0;        // 1-based
  bool too_long = false;     // the raw line (without '\n') is over max_line_bytes
};

class ConfigLines {
 public:
  ConfigLines(std::string_view text, size_t max_line_bytes)
      : rest_(text), max_line_bytes_(max_line_bytes) {}

  bool next(ConfigLine& line);  // false at the end of the text

 private:
  std::string_view rest_;
  size_t max_line_bytes_;
  size_t line_no_ = 0;
};

// Number of lines a text can hold at most: an upper bound used to reserve tables up front.
size_t count_lines(std::string_view text);

}  // namespace ringway::auth
