#pragma once
// Check results and how they are printed: one text line per check, or one JSON document.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::probe {

struct CheckResult {
  std::string name;
  bool pass = false;
  std::chrono::microseconds elapsed{0};  // the measured time (what it measures: per check)
  std::string detail;
};

// "0.503s", "12.000s", "120.000s".
std::string format_seconds(std::chrono::microseconds d);
// Text form of a duration given in milliseconds for details and headers: "500ms", "3s", "2.5s".
std::string format_duration_ms(uint64_t ms);

// `PASS  <name padded>  <time>  <detail>`: fields separated by two or more spaces; the name is
// padded to name_width so the columns line up.
std::string format_line(const CheckResult& r, size_t name_width = 16);

// JSON string literal (with the quotes) for arbitrary bytes: invalid UTF-8 and control bytes are
// escaped so the document is always valid.
std::string json_string(std::string_view s);

struct RunInfo {
  std::string url;
  uint64_t max_wait_ms = 0;
  uint64_t ping_wait_ms = 0;
  bool parallel = false;
};

// {"url":..,"max_wait_ms":..,"ping_wait_ms":..,"parallel":..,"passed":N,"failed":N,
//  "checks":[{"name":..,"status":"PASS","pass":true,"elapsed_ms":..,"detail":..},...]}
std::string format_json(const RunInfo& info, const std::vector<CheckResult>& results);

}  // namespace ringway::probe
