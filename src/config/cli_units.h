#pragma once
// Command-line options that take a duration ("250ms", "10s") or a size ("64KiB"), for the CLI11
// parsers of ringway and its tools: one spelling of units and of the error for bad input.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "ringway/config.h"

namespace ringway::cli {

// Adds NAME taking a duration, stored in target as milliseconds; *was_set (if given) becomes
// true when the option appears.
inline CLI::Option* add_duration(CLI::App& app, const std::string& name, uint64_t& target,
                                 const std::string& help, bool* was_set = nullptr) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, name, was_set](const std::string& v) {
            auto ms = parse_duration_ms(v);
            if (!ms) throw CLI::ValidationError(name, "expected a duration like 250ms, 10s, 2m");
            target = *ms;
            if (was_set) *was_set = true;
          },
          help)
      ->type_name("DURATION");
}

// The same for a duration whose absence means "derive it" (e.g. --idle-timeout).
inline CLI::Option* add_duration(CLI::App& app, const std::string& name,
                                 std::optional<uint64_t>& target, const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, name](const std::string& v) {
            auto ms = parse_duration_ms(v);
            if (!ms) throw CLI::ValidationError(name, "expected a duration like 250ms, 10s, 2m");
            target = *ms;
          },
          help)
      ->type_name("DURATION");
}

// Adds NAME taking a size in bytes ("65536", "64KiB", "1MiB").
inline CLI::Option* add_size(CLI::App& app, const std::string& name, size_t& target,
                             const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, name](const std::string& v) {
            auto n = parse_size(v);
            if (!n) throw CLI::ValidationError(name, "expected a size like 65536, 64KiB, 1MiB");
            target = *n;
          },
          help)
      ->type_name("BYTES");
}

}  // namespace ringway::cli
