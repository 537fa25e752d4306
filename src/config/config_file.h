#pragma once
// Settings from a TOML file (Debian's toml++). Keys are those of config/options.h: top-level
// ones (`listen = "..."`) and one level of sections (`[timeouts]` then `idle = "90s"`).
// Durations and sizes are strings with units ("10s", "1MiB") or integers (milliseconds, bytes).
// An unknown key, a value of the wrong type or out of range fails with "file:line: key: why";
// nothing is silently ignored.
#include <string>
#include <string_view>

#include "ringway/config.h"

namespace ringway::config {

// Applies the file's settings on top of cfg. False with the reason in err.
bool load_file(const std::string& path, Config& cfg, std::string& err);
bool load_text(std::string_view text, std::string_view name, Config& cfg, std::string& err);

// The effective settings as a TOML file (every key, grouped by section), with a comment on each
// setting a reload cannot change.
std::string to_toml(const Config& cfg);

// The Markdown table of every setting: file key, flag, default, reloadable, meaning.
std::string reference_markdown();

}  // namespace ringway::config
