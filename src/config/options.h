#pragma once
// Every setting once: its config-file key, its command-line flag, its kind, its help, and
// whether a reload (SIGHUP) may change it. The command line (app/cli.cc), the TOML file
// (config_file.h), `ringway check-config` and docs/configuration.md all come from this table,
// so a setting cannot exist in one and be missing from another.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "ringway/config.h"

namespace ringway::config {

enum class Kind : uint8_t {
  kString,
  kUint,      // a non-negative integer
  kInt,       // an integer (the keepalive settings: 0 is off)
  kBool,
  kDuration,  // "250ms", "10s", "2m", "1h" (or an integer of milliseconds in a file)
  kOptionalDuration,  // the same; absent means "derived" (idle timeout: 3 x ping interval)
  kSize,      // "65536", "64KiB", "1MiB" (or an integer of bytes in a file)
  kStringList,  // a flag given several times, or a string or an array of strings in a file
};

using Member = std::variant<std::string Config::*, uint32_t Config::*, uint64_t Config::*,
                            int Config::*, bool Config::*, std::optional<uint64_t> Config::*,
                            std::vector<std::string> Config::*>;

struct Option {
  const char* key;   // in the file: "section.name" (a top-level key has no section)
  const char* flag;  // on the command line, without the dashes; for a bool, the flag that sets
                     // the opposite of the default ("no-echo") unless `bool_flag_sets` is true
  Kind kind;
  Member member;
  const char* help;
  bool reloadable;           // SIGHUP applies a new value without a restart
  bool bool_flag_sets = false;  // for kBool: the flag sets true (e.g. --dev)
};

std::span<const Option> options();
const Option* find_option_by_key(std::string_view key);

// The value as the file would spell it ("10s", "1MiB", "true", "\"/ws\"", or "" when an optional
// setting is unset).
std::string format_value(const Option& o, const Config& c);
// Sets the value from text (a flag's argument, or a file's string); false with a reason.
bool set_from_text(const Option& o, Config& c, std::string_view text, std::string& err);
// Sets the value from an integer (a file's integer); false with a reason.
bool set_from_integer(const Option& o, Config& c, int64_t value, std::string& err);
bool set_from_bool(const Option& o, Config& c, bool value, std::string& err);
bool set_list(const Option& o, Config& c, std::vector<std::string> values, std::string& err);
bool equal_values(const Option& o, const Config& a, const Config& b);

}  // namespace ringway::config
